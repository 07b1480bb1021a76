import { UnwrapdError } from '../errors.js';
import { policyKey, type PolicyRecord } from './policy.js';
import { RevisionConflictError, type RegistryLimits } from './policy-registry.js';
import { validatePolicyRecord } from './validate-policy.js';

/**
 * The rules every registry backend applies to a write, in one place so the file registry and PostgreSQL
 * cannot drift apart: the candidate record (validated, revision set, frozen), the existence and revision
 * checks, the per-tenant limit and the `files`-mode geo rule. A backend supplies what it stored (the whole
 * file, or the tenant's rows read under the tenant's lock) and calls these inside its atomic step.
 */

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = { maxPoliciesPerTenant: 50 };

/** The limits a backend enforces: the defaults overridden by `limits`; throws on a limit that is not a positive integer. */
export function registryLimits(limits: Partial<RegistryLimits> | undefined): RegistryLimits {
  const merged = { ...DEFAULT_REGISTRY_LIMITS, ...limits };
  if (!Number.isSafeInteger(merged.maxPoliciesPerTenant) || merged.maxPoliciesPerTenant < 1) {
    throw new UnwrapdError('invalid_argument', 'maxPoliciesPerTenant must be a positive integer');
  }
  return merged;
}

/** What a rule needs to know of a stored policy (the file registry has records; PostgreSQL reads these columns). */
export interface StoredPolicy {
  id: string;
  tenant?: string;
  mode: string;
  geo: string;
  state: string;
  revision: number;
}

/** The record `create` stores: validated, at revision 1, frozen. */
export function createCandidate(record: PolicyRecord): PolicyRecord {
  return freezeRecord(validatePolicyRecord({ ...record, revision: 1 }));
}

/** The record `update` stores: validated, at expectedRevision + 1, frozen. Throws on a revision that is not a positive integer. */
export function updateCandidate(record: PolicyRecord, expectedRevision: number): PolicyRecord {
  if (!Number.isSafeInteger(expectedRevision) || expectedRevision < 1) {
    throw new UnwrapdError('invalid_argument', 'expectedRevision must be a positive integer');
  }
  return freezeRecord(validatePolicyRecord({ ...record, revision: expectedRevision + 1 }));
}

/**
 * May `candidate` be created next to `tenantPolicies` (every stored policy of its tenant, purged ones
 * included)? Throws `already_exists`, or `failed_precondition` for the tenant limit or the geo rule.
 */
export function checkCreate(
  tenantPolicies: readonly StoredPolicy[],
  candidate: PolicyRecord,
  limits: RegistryLimits,
): void {
  const key = policyKey(candidate.tenant, candidate.id);
  if (tenantPolicies.some((p) => p.id === candidate.id))
    throw new UnwrapdError('already_exists', `policy ${key} already exists`, {
      reason: 'POLICY_EXISTS',
      metadata: { tenant: candidate.tenant, policy_id: candidate.id },
    });
  if (tenantPolicies.length >= limits.maxPoliciesPerTenant) {
    throw new UnwrapdError(
      'failed_precondition',
      `tenant ${candidate.tenant} already has ${tenantPolicies.length} policies (limit ${limits.maxPoliciesPerTenant})`,
      {
        reason: 'TENANT_POLICY_LIMIT',
        metadata: { tenant: candidate.tenant, limit: 'maxPoliciesPerTenant', limit_value: limits.maxPoliciesPerTenant },
      },
    );
  }
  checkFilesModeGeo(tenantPolicies, candidate);
}

/**
 * May `candidate` replace the stored policy of the same id, last read at `expectedRevision`? Throws
 * `not_found`, RevisionConflictError (optimistic concurrency: the caller re-reads and retries), or
 * `failed_precondition` for the geo rule. Returns the stored policy.
 */
export function checkUpdate<S extends StoredPolicy>(
  tenantPolicies: readonly S[],
  candidate: PolicyRecord,
  expectedRevision: number,
): S {
  const key = policyKey(candidate.tenant, candidate.id);
  const stored = tenantPolicies.find((p) => p.id === candidate.id);
  if (!stored)
    throw new UnwrapdError('not_found', `no policy ${key}`, {
      reason: 'POLICY_NOT_FOUND',
      metadata: { tenant: candidate.tenant, policy_id: candidate.id },
    });
  if (stored.revision !== expectedRevision) throw new RevisionConflictError(key, expectedRevision, stored.revision);
  checkFilesModeGeo(tenantPolicies, candidate);
  return stored;
}

/** `files` mode (the SharePoint rule): at most one policy per tenant per geo that is not purged. */
function checkFilesModeGeo(tenantPolicies: readonly StoredPolicy[], candidate: PolicyRecord): void {
  if (candidate.mode !== 'files' || candidate.state === 'purged') return;
  for (const p of tenantPolicies) {
    if (p.id !== candidate.id && p.mode === 'files' && p.geo === candidate.geo && p.state !== 'purged') {
      throw new UnwrapdError(
        'failed_precondition',
        `tenant ${candidate.tenant} already has files-mode policy ${p.id} for geo ${candidate.geo}`,
        { reason: 'GEO_CONFLICT', metadata: { tenant: candidate.tenant, geo: candidate.geo } },
      );
    }
  }
}

/** Sorted by tenant then id, by code unit (ids are ASCII), so every backend lists in the same order. */
export function sortPolicies(records: Iterable<PolicyRecord>): PolicyRecord[] {
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...records].sort((a, b) => compare(a.tenant, b.tenant) || compare(a.id, b.id));
}

/**
 * Freezes a record and everything in it, so a record a registry hands out cannot be changed in place
 * (copy before changing one). Returns it.
 */
export function freezeRecord(record: PolicyRecord): PolicyRecord {
  const deepFreeze = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  };
  deepFreeze(record);
  return record;
}
