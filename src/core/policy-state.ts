import { type ErrorReason, policyMetadata, UnwrapdError } from '../errors.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { PolicyRecord } from '../registry/policy.js';

/** The policy, or NOT_FOUND: the one "no policy" of the core's look-ups by name. */
export function requirePolicy(registry: Pick<PolicyRegistry, 'get'>, tenant: string, id: string): PolicyRecord {
  const policy = registry.get(tenant, id);
  if (!policy)
    throw new UnwrapdError('not_found', `no policy ${tenant}/${id}`, {
      reason: 'POLICY_NOT_FOUND',
      metadata: policyMetadata(tenant, id),
    });
  return policy;
}

/** Throws FAILED_PRECONDITION unless the policy may serve encrypt/decrypt now. */
export function requireUsable(policy: PolicyRecord): void {
  switch (policy.state) {
    case 'active':
    case 'rolling':
      return;
    case 'revoked':
      throw policyStateError(policy, 'is revoked');
    case 'purged':
      throw policyStateError(policy, 'is purged');
    case 'registering':
      throw policyStateError(policy, 'is still registering');
  }
}

const STATE_REASONS: Readonly<Record<string, ErrorReason>> = {
  revoked: 'POLICY_REVOKED',
  purged: 'POLICY_PURGED',
  registering: 'POLICY_REGISTERING',
};

/**
 * FAILED_PRECONDITION "policy <tenant>/<id> <what>" for a policy that is not serving: POLICY_REVOKED,
 * POLICY_PURGED or POLICY_REGISTERING by its state (`state`, default the policy's own).
 */
export function policyStateError(
  policy: Pick<PolicyRecord, 'tenant' | 'id' | 'state'>,
  what: string,
  state: string = policy.state,
): UnwrapdError {
  return new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} ${what}`, {
    reason: STATE_REASONS[state] ?? 'FAILED_PRECONDITION',
    metadata: { ...policyMetadata(policy.tenant, policy.id), state },
  });
}

/** Whether the policy serves encrypt/decrypt through its customer keys now (its registry state alone). */
export function isServing(policy: PolicyRecord): boolean {
  return policy.state === 'active' || policy.state === 'rolling';
}
