import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import { SecretKey } from '../crypto/secret-key.js';
import { invalidArgument, UnwrapdError } from '../errors.js';
import { isProviderError } from '../providers/provider-error.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { ID_PATTERN, KEY_ROLES, type KeyRole, type PolicyMode, type PolicyRecord, type WrappedCopyRecord } from '../registry/policy.js';

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
  now?: () => Date;
}

const GEO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;
const MAX_NAME_LENGTH = 256;

/**
 * Policy administration. Creating a policy pins each root key to its current version, generates a random
 * intermediate key, wraps it under all three root keys and stores only the wrapped copies.
 */
export class PolicyService {
  readonly #o: PolicyServiceOptions;
  readonly #now: () => Date;

  constructor(opts: PolicyServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
  }

  async create(input: CreatePolicyInput): Promise<PolicyRecord> {
    validateCreate(input);
    if (this.#o.registry.get(input.tenant, input.id)) {
      throw new UnwrapdError('already_exists', `policy ${input.tenant}/${input.id} already exists`);
    }
    const signal = AbortSignal.any([input.signal, AbortSignal.timeout(this.#o.providerTimeoutMs)]);
    const pinned = {} as Record<KeyRole, string>;
    const algorithms = {} as Record<KeyRole, string>;
    await Promise.all(
      KEY_ROLES.map(async (role) => {
        const resolved = await this.#providerCall(role, () => this.#o.provider.resolve(input.keys[role], { signal }));
        pinned[role] = resolved.uri;
        algorithms[role] = resolved.algorithm;
      }),
    );
    if (pinned['customer-a'] === pinned['customer-b']) {
      throw invalidArgument('customer key A and customer key B must be different keys');
    }
    const ik = SecretKey.copyFrom(randomBytes(32), true);
    let copies: WrappedCopyRecord[];
    try {
      copies = await Promise.all(
        KEY_ROLES.map(async (role) => {
          const wrapped = await this.#providerCall(role, () => this.#o.provider.wrap(pinned[role], ik, { signal }));
          return { role, keyUri: wrapped.keyUri, algorithm: wrapped.algorithm, ciphertext: Buffer.from(wrapped.ciphertext).toString('base64') };
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
    const created = await this.#o.registry.create(record);
    await this.#o.audit.append({
      type: 'policy.created',
      tenant: created.tenant,
      policyId: created.id,
      keyVersion: 1,
      requestId: input.requestId ?? '',
      actor: input.actor ?? 'local',
      details: { mode: created.mode, 'customer-a': pinned['customer-a'], 'customer-b': pinned['customer-b'], availability: pinned.availability },
    });
    return created;
  }

  get(tenant: string, id: string): PolicyRecord {
    const policy = this.#o.registry.get(tenant, id);
    if (!policy) throw new UnwrapdError('not_found', `no policy ${tenant}/${id}`);
    return policy;
  }

  list(tenant?: string): PolicyRecord[] {
    return this.#o.registry.list(tenant || undefined);
  }

  async #providerCall<T>(role: KeyRole, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isProviderError(err)) {
        const code = err.kind === 'revoked' ? 'failed_precondition' : 'unavailable';
        throw new UnwrapdError(code, `${role} key ${err.keyUri} cannot be used: ${err.reason}`, { cause: err });
      }
      throw err;
    }
  }
}

function validateCreate(input: CreatePolicyInput): void {
  if (!ID_PATTERN.test(input.tenant)) throw invalidArgument('tenant must be 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit');
  if (!ID_PATTERN.test(input.id)) throw invalidArgument('policy id must be 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit');
  if (input.name.length > MAX_NAME_LENGTH) throw invalidArgument(`policy name is longer than ${MAX_NAME_LENGTH} characters`);
  if (input.mode !== 'mailbox' && input.mode !== 'files') throw invalidArgument('mode must be mailbox or files');
  if (input.mode === 'files' && !input.geo) throw invalidArgument('files mode needs a geo (one policy per tenant per geo)');
  if (input.geo && !GEO_PATTERN.test(input.geo)) throw invalidArgument('geo must be 1-32 characters of A-Z a-z 0-9 -');
  for (const role of KEY_ROLES) {
    const uri = input.keys[role];
    if (!uri) throw invalidArgument(`${role} key is required`);
    if (uri.length > 1024 || !/^[a-z][a-z0-9+.-]*:/.test(uri)) throw invalidArgument(`${role} key must be a provider URI such as local:name or https://vault/keys/name`);
  }
}
