import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/audit-trail.js';
import { auditedWrite } from './audited-write.js';
import { SecretKey } from '../crypto/secret-key.js';
import { invalidArgument, policyMetadata, UnwrapdError } from '../errors.js';
import { ID_PATTERN } from '../ids.js';
import { isKeyBase } from '../providers/key-base.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { availabilityKeyHint, describePolicies, keyIdentity, otherPoliciesUsing } from './availability-keys.js';
import { requirePolicy } from './policy-state.js';
import { callProvider } from './provider-failure.js';
import {
  KEY_ROLES,
  type KeyRole,
  type PolicyMode,
  type PolicyRecord,
  type WrappedCopyRecord,
} from '../registry/policy.js';

export interface CreatePolicyInput {
  requestId?: string;
  actor?: string;
  tenant: string;
  id: string;
  name: string;
  mode: PolicyMode;
  geo: string;
  keys: Record<KeyRole, string>;
  signal: AbortSignal;
}

export interface PolicyServiceOptions {
  audit: AuditLog;
  registry: PolicyRegistry;
  provider: RootKeyProvider;
  providerTimeoutMs: number;
  /** Where a policy's own availability key is created when the request names none (default `local:`). */
  availabilityKeyBase?: string;
  now?: () => Date;
}

const GEO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;
const MAX_NAME_LENGTH = 256;

/**
 * Policy administration. Creating a policy pins each root key to its current version, generates a random
 * intermediate key, wraps it under all three root keys and stores only the wrapped copies.
 *
 * The availability key is the policy's own (purge destroys it, docs/lifecycle.md): an empty
 * `availability` creates one under `availabilityKeyBase`, a key base (`local:`, `pkcs11:token=<label>`,
 * `https://<vault>/keys/`) creates one there, and a key URI that another policy already uses is refused.
 */
export class PolicyService {
  readonly #opts: PolicyServiceOptions;
  readonly #now: () => Date;

  constructor(opts: PolicyServiceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
  }

  async create(input: CreatePolicyInput): Promise<PolicyRecord> {
    validateCreate(input);
    const existing = this.#opts.registry.get(input.tenant, input.id);
    if (existing) {
      const message =
        existing.state === 'purged'
          ? `policy ${input.tenant}/${input.id} was purged, and a purged policy's id is never reused (its tombstone stays): choose another id`
          : `policy ${input.tenant}/${input.id} already exists`;
      throw new UnwrapdError('already_exists', message, {
        reason: 'POLICY_EXISTS',
        metadata: policyMetadata(input.tenant, input.id),
      });
    }
    const signal = AbortSignal.any([input.signal, AbortSignal.timeout(this.#opts.providerTimeoutMs)]);
    const pinned = {} as Record<KeyRole, string>;
    const algorithms = {} as Record<KeyRole, string>;
    const base = this.#availabilityBase(input.keys.availability);
    const resolvedRoles = base === undefined ? KEY_ROLES : KEY_ROLES.filter((r) => r !== 'availability');
    await Promise.all(
      resolvedRoles.map(async (role) => {
        const resolved = await callProvider(role, () => this.#opts.provider.resolve(input.keys[role], { signal }));
        pinned[role] = resolved.uri;
        algorithms[role] = resolved.algorithm;
      }),
    );
    if (pinned['customer-a'] === pinned['customer-b']) {
      throw invalidArgument('customer key A and customer key B must be different keys');
    }
    if (base === undefined) refuseSharedAvailabilityKey(this.#opts.registry.list(), pinned.availability, input);
    else pinned.availability = (await this.#createAvailabilityKey(base, input)).uri;
    try {
      // A fresh deadline for the wraps: creating the key may have used most of the first one.
      return await this.#createWithKeys(
        input,
        pinned,
        AbortSignal.any([input.signal, AbortSignal.timeout(this.#opts.providerTimeoutMs)]),
        base !== undefined,
      );
    } catch (err) {
      if (base !== undefined) await this.#discardCreatedKey(pinned.availability);
      throw err;
    }
  }

  /** The key base to create the availability key under, or undefined when the request names a key. */
  #availabilityBase(requested: string): string | undefined {
    if (requested === '') return this.#opts.availabilityKeyBase ?? 'local:';
    return isKeyBase(requested) ? requested : undefined;
  }

  async #createAvailabilityKey(base: string, input: CreatePolicyInput) {
    const provider = this.#opts.provider;
    if (!provider.createKey)
      throw new UnwrapdError(
        'failed_precondition',
        'the root-key provider cannot create availability keys: name one in availability_key',
        { reason: 'PROVIDER_UNSUPPORTED' },
      );
    // Key generation (RSA-3072) is slow, the more so on a busy machine: a longer deadline than a wrap's.
    const signal = AbortSignal.any([input.signal, AbortSignal.timeout(this.#opts.providerTimeoutMs * 4)]);
    return callProvider('availability', () =>
      provider.createKey!(base, availabilityKeyHint(input.tenant, input.id), { signal }),
    );
  }

  /** A key created for a policy that was then not created is destroyed again (best effort). */
  async #discardCreatedKey(keyUri: string): Promise<void> {
    await this.#opts.provider
      .destroyKey?.(keyUri, { signal: AbortSignal.timeout(this.#opts.providerTimeoutMs * 4) })
      .catch(() => undefined);
  }

  async #createWithKeys(
    input: CreatePolicyInput,
    pinned: Record<KeyRole, string>,
    signal: AbortSignal,
    availabilityKeyCreated: boolean,
  ): Promise<PolicyRecord> {
    const ik = SecretKey.copyFrom(randomBytes(32), true);
    let copies: WrappedCopyRecord[];
    try {
      copies = await Promise.all(
        KEY_ROLES.map(async (role) => {
          const wrapped = await callProvider(role, () => this.#opts.provider.wrap(pinned[role], ik, { signal }));
          return {
            role,
            keyUri: wrapped.keyUri,
            algorithm: wrapped.algorithm,
            ciphertext: Buffer.from(wrapped.ciphertext).toString('base64'),
          };
        }),
      );
    } finally {
      ik.destroy();
    }
    const now = this.#now().toISOString();
    const record: PolicyRecord = {
      tenant: input.tenant,
      id: input.id,
      name: input.name,
      mode: input.mode,
      geo: input.geo,
      state: 'active',
      keys: pinned,
      activeVersion: 1,
      minDecryptVersion: 1,
      versions: [{ version: 1, createdAt: now, copies }],
      revision: 1,
      createdAt: now,
      updatedAt: now,
    };
    // The policy and its `policy.created` record are written together (src/core/audited-write.ts).
    const { result: created } = await auditedWrite(
      this.#opts.audit,
      () => [
        {
          type: 'policy.created',
          tenant: record.tenant,
          policyId: record.id,
          keyVersion: 1,
          requestId: input.requestId ?? '',
          actor: input.actor ?? 'local',
          details: {
            mode: record.mode,
            'customer-a': pinned['customer-a'],
            'customer-b': pinned['customer-b'],
            availability: pinned.availability,
            availabilityKeyCreated,
          },
        },
      ],
      (opts) => this.#opts.registry.create(record, opts),
    );
    return created;
  }

  get(tenant: string, id: string): PolicyRecord {
    return requirePolicy(this.#opts.registry, tenant, id);
  }

  list(tenant?: string): PolicyRecord[] {
    return this.#opts.registry.list(tenant || undefined);
  }
}

/** Each policy has its own availability key: one another (unpurged) policy uses is refused. */
function refuseSharedAvailabilityKey(
  policies: readonly PolicyRecord[],
  keyUri: string,
  self: { tenant: string; id: string },
): void {
  const users = otherPoliciesUsing(policies, keyUri, self);
  if (users.length === 0) return;
  throw new UnwrapdError(
    'failed_precondition',
    `availability key ${keyIdentity(keyUri)} is already used by ${describePolicies(users)}: each policy needs its own availability key (purge destroys it). Leave availability_key empty, or give a key base such as local:, to create one`,
    { reason: 'AVAILABILITY_KEY_SHARED', metadata: policyMetadata(self.tenant, self.id) },
  );
}

function validateCreate(input: CreatePolicyInput): void {
  if (!ID_PATTERN.test(input.tenant))
    throw invalidArgument('tenant must be 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit');
  if (!ID_PATTERN.test(input.id))
    throw invalidArgument('policy id must be 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit');
  if (input.name.length > MAX_NAME_LENGTH)
    throw invalidArgument(`policy name is longer than ${MAX_NAME_LENGTH} characters`);
  if (input.mode !== 'mailbox' && input.mode !== 'files') throw invalidArgument('mode must be mailbox or files');
  if (input.mode === 'files' && !input.geo)
    throw invalidArgument('files mode needs a geo (one policy per tenant per geo)');
  if (input.geo && !GEO_PATTERN.test(input.geo)) throw invalidArgument('geo must be 1-32 characters of A-Z a-z 0-9 -');
  for (const role of KEY_ROLES) {
    const uri = input.keys[role];
    if (!uri && role === 'availability') continue; // created for the policy
    if (!uri) throw invalidArgument(`${role} key is required`);
    if (uri.length > 1024 || !/^[a-z][a-z0-9+.-]*:/.test(uri))
      throw invalidArgument(`${role} key must be a provider URI such as local:name or https://vault/keys/name`);
  }
}
