import { randomBytes } from 'node:crypto';
import type { AuditFields, AuditLog, AuditRecord } from '../../src/audit/audit-log.js';
import { SecretKey } from '../../src/crypto/secret-key.js';
import { UnwrapdError } from '../../src/errors.js';
import { providerError, type ProviderErrorReason } from '../../src/providers/provider-error.js';
import type {
  CallOptions,
  KeyStatus,
  ResolvedKey,
  RootKeyProvider,
  WrappedKey,
} from '../../src/providers/root-key-provider.js';
import { RevisionConflictError, type PolicyRegistry } from '../../src/registry/policy-registry.js';
import { KEY_ROLES, type PolicyRecord } from '../../src/registry/policy.js';

/**
 * In-process fakes for unit tests of the core services: no daemon, no files, no RSA. The provider "wraps"
 * by remembering the key under a random handle; the registry is a Map with the revision check; the audit
 * log is an array.
 */

/** A root-key provider in memory. `fail` breaks a key; `hold` keeps unwraps waiting until released. */
export class FakeProvider implements RootKeyProvider {
  readonly schemes = ['fake'];
  readonly unwraps: string[] = [];
  readonly #wrapped = new Map<string, Buffer>();
  readonly #failing = new Map<string, ProviderErrorReason>();
  #held: Array<() => void> | undefined;
  #onUnwrap: Array<() => void> = [];

  /** Makes every call on `keyUri` fail with `reason` (undefined: heals it). */
  fail(keyUri: string, reason: ProviderErrorReason | undefined): void {
    if (reason) this.#failing.set(keyUri, reason);
    else this.#failing.delete(keyUri);
  }

  /** Unwraps wait from now on until `release()`. */
  hold(): { release: () => void } {
    const held: Array<() => void> = [];
    this.#held = held;
    return {
      release: () => {
        this.#held = undefined;
        for (const go of held.splice(0)) go();
      },
    };
  }

  /** Resolves when the next unwrap starts. */
  unwrapStarted(): Promise<void> {
    return new Promise((resolve) => this.#onUnwrap.push(resolve));
  }

  async resolve(keyUri: string): Promise<ResolvedKey> {
    return { uri: keyUri, algorithm: 'FAKE' };
  }

  async wrap(keyUri: string, key: SecretKey): Promise<WrappedKey> {
    const handle = randomBytes(16);
    this.#wrapped.set(`${keyUri}\u0000${handle.toString('base64')}`, Buffer.from(key.expose()));
    return { keyUri, algorithm: 'FAKE', ciphertext: handle };
  }

  async unwrap(wrapped: WrappedKey, opts: CallOptions): Promise<SecretKey> {
    this.unwraps.push(wrapped.keyUri);
    for (const started of this.#onUnwrap.splice(0)) started();
    if (this.#held) await new Promise<void>((go) => this.#held!.push(go));
    opts.signal.throwIfAborted();
    const reason = this.#failing.get(wrapped.keyUri);
    if (reason) throw providerError(reason, wrapped.keyUri, `${wrapped.keyUri}: injected ${reason}`);
    const bytes = this.#wrapped.get(`${wrapped.keyUri}\u0000${Buffer.from(wrapped.ciphertext).toString('base64')}`);
    if (!bytes) throw providerError('unknown', wrapped.keyUri, `${wrapped.keyUri}: not wrapped here`);
    return SecretKey.copyFrom(bytes);
  }

  async status(keyUri: string): Promise<KeyStatus> {
    const reason = this.#failing.get(keyUri);
    if (!reason) return { uri: keyUri, usable: true };
    const err = providerError(reason, keyUri, `${keyUri}: injected ${reason}`);
    return { uri: keyUri, usable: false, kind: err.kind, reason };
  }

  async close(): Promise<void> {}
}

/** A policy record whose one version is wrapped under fake keys by `provider` (all three roles). */
export async function fakePolicy(provider: FakeProvider, overrides: Partial<PolicyRecord> = {}): Promise<PolicyRecord> {
  const tenant = overrides.tenant ?? 't';
  const id = overrides.id ?? 'p';
  const keys = { 'customer-a': `fake:${id}-a/1`, 'customer-b': `fake:${id}-b/1`, availability: `fake:${id}-av/1` };
  const ik = SecretKey.copyFrom(randomBytes(32));
  const copies = await Promise.all(
    KEY_ROLES.map(async (role) => {
      const w = await provider.wrap(keys[role], ik);
      return {
        role,
        keyUri: w.keyUri,
        algorithm: w.algorithm,
        ciphertext: Buffer.from(w.ciphertext).toString('base64'),
      };
    }),
  );
  ik.destroy();
  const at = '2026-01-01T00:00:00.000Z';
  return {
    tenant,
    id,
    name: id,
    mode: 'mailbox',
    geo: '',
    state: 'active',
    keys,
    activeVersion: 1,
    minDecryptVersion: 1,
    versions: [{ version: 1, createdAt: at, copies }],
    revision: 1,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

/** A registry in memory with the optimistic revision check. `conflictsToInject` fails that many updates first. */
export class FakeRegistry implements PolicyRegistry {
  readonly description = 'fake:';
  readonly #records = new Map<string, PolicyRecord>();
  readonly #listeners: Array<(r: PolicyRecord) => void> = [];
  conflictsToInject = 0;
  updates = 0;

  constructor(records: PolicyRecord[] = []) {
    for (const r of records) this.#records.set(`${r.tenant}/${r.id}`, r);
  }

  async open(): Promise<void> {}
  get(tenant: string, id: string): PolicyRecord | undefined {
    return this.#records.get(`${tenant}/${id}`);
  }
  list(tenant?: string): PolicyRecord[] {
    return [...this.#records.values()].filter((r) => tenant === undefined || r.tenant === tenant);
  }
  async create(record: PolicyRecord): Promise<PolicyRecord> {
    if (this.get(record.tenant, record.id)) throw new UnwrapdError('already_exists', 'exists');
    return this.#store({ ...record, revision: 1 });
  }
  async update(record: PolicyRecord, expectedRevision: number): Promise<PolicyRecord> {
    this.updates++;
    const current = this.get(record.tenant, record.id);
    if (!current) throw new UnwrapdError('not_found', 'no such policy');
    if (this.conflictsToInject > 0) {
      // Another writer got there first: its change is stored, this one is refused.
      this.conflictsToInject--;
      this.#store({ ...current, revision: current.revision + 1, name: `${current.name} (changed concurrently)` });
      throw new RevisionConflictError(`${record.tenant}/${record.id}`, expectedRevision, current.revision + 1);
    }
    if (current.revision !== expectedRevision)
      throw new RevisionConflictError(`${record.tenant}/${record.id}`, expectedRevision, current.revision);
    return this.#store({ ...record, revision: current.revision + 1 });
  }
  onChange(listener: (r: PolicyRecord) => void): () => void {
    this.#listeners.push(listener);
    return () => this.#listeners.splice(this.#listeners.indexOf(listener), 1);
  }
  async close(): Promise<void> {}
  #store(record: PolicyRecord): PolicyRecord {
    this.#records.set(`${record.tenant}/${record.id}`, record);
    for (const l of this.#listeners) l(record);
    return record;
  }
}

/** An audit log in memory. */
export class FakeAuditLog implements AuditLog {
  readonly path = 'memory:';
  readonly records: AuditRecord[] = [];
  async append(fields: AuditFields): Promise<AuditRecord> {
    const record = {
      ...fields,
      seq: this.records.length + 1,
      at: new Date(0).toISOString(),
      prev: '',
      hash: String(this.records.length + 1),
    };
    this.records.push(record);
    return record;
  }
  head() {
    return { count: this.records.length, hash: String(this.records.length) };
  }
  async close(): Promise<void> {}
}
