import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditLog, AuditRecord } from '../audit/audit-log.js';
import type { KeyCache } from '../cache/key-cache.js';
import { SecretKey } from '../crypto/secret-key.js';
import { invalidArgument, UnwrapdError } from '../errors.js';
import { unpinned } from '../providers/key-uri.js';
import { isProviderError } from '../providers/provider-error.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { RevocationGate } from '../revocation/revocation-gate.js';
import { KEY_ROLES, type KeyRole, type KeyVersionRecord, type PolicyRecord, type WrappedCopyRecord } from '../registry/policy.js';
import { classify, CustomerKeysError, type KeyUnwrapper } from './key-unwrapper.js';

export interface LifecycleOptions {
  registry: PolicyRegistry;
  provider: RootKeyProvider;
  unwrapper: KeyUnwrapper;
  cache: KeyCache;
  audit: AuditLog;
  gate: RevocationGate;
  providerTimeoutMs: number;
  now?: () => Date;
}

export interface OperatorRequest {
  tenant: string;
  id: string;
  requestId: string;
  actor: string;
  signal: AbortSignal;
}

export interface RecoveryOption {
  /** Operator recovery: the availability key may unwrap when no customer key can (audited with the reason). */
  recovery: boolean;
  reason: string;
}

export interface PurgeReceipt {
  tenant: string;
  id: string;
  purgedAt: string;
  versionsDestroyed: number;
  copiesDestroyed: number;
  forced: boolean;
  auditRecordHash: string;
}

/**
 * The Customer Key lifecycle: roll a root key, refresh to the latest versions, rotate the intermediate key,
 * revoke, purge. Every step that changes a policy goes through the registry's optimistic revision check (a
 * concurrent change makes it fail with FAILED_PRECONDITION rather than lose an update), and every one is in
 * the audit log, durably, before it is acknowledged. docs/lifecycle.md describes the rules.
 */
export class LifecycleService {
  readonly #o: LifecycleOptions;
  readonly #now: () => Date;

  constructor(opts: LifecycleOptions) {
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Rewraps every intermediate-key version under a new version (or another key) for one role. */
  async rollKey(req: OperatorRequest & RecoveryOption & { role: KeyRole; newKeyUri: string }): Promise<PolicyRecord> {
    if (!KEY_ROLES.includes(req.role)) throw invalidArgument('role must be customer-a, customer-b or availability');
    checkRecovery(req);
    const policy = await this.#rollRoles(req, [req.role], req.newKeyUri ? { [req.role]: req.newKeyUri } : {});
    return policy;
  }

  /** Rewraps every version under the latest version of each of the three root keys. */
  async refresh(req: OperatorRequest & RecoveryOption): Promise<PolicyRecord> {
    checkRecovery(req);
    return this.#rollRoles(req, [...KEY_ROLES], {});
  }

  /** A new intermediate-key version becomes the one used to encrypt; older ones keep decrypting. */
  async rotate(req: OperatorRequest & { minDecryptVersion: number }): Promise<PolicyRecord> {
    const policy = this.#usable(req.tenant, req.id);
    const version = Math.max(...policy.versions.map((v) => v.version)) + 1;
    const min = req.minDecryptVersion || policy.minDecryptVersion;
    if (min < policy.minDecryptVersion) throw invalidArgument(`min_decrypt_version cannot go down (it is ${policy.minDecryptVersion})`);
    if (min > version) throw invalidArgument(`min_decrypt_version ${min} is above the new version ${version}`);
    const signal = this.#signal(req.signal);
    const ik = SecretKey.copyFrom(randomBytes(32), true);
    let copies: WrappedCopyRecord[];
    try {
      copies = await Promise.all(KEY_ROLES.map((role) => this.#wrapVerified(policy.keys[role], role, ik, signal)));
    } finally {
      ik.destroy();
    }
    const now = this.#now().toISOString();
    const versions: KeyVersionRecord[] = [...policy.versions, { version, createdAt: now, copies }];
    const updated = await this.#update(policy, { versions, activeVersion: version, minDecryptVersion: min, updatedAt: now });
    if (min > policy.minDecryptVersion) this.#o.cache.evictPolicy(policy.tenant, policy.id); // retired versions leave memory
    await this.#audit('policy.rotated', req, { keyVersion: version, details: { minDecryptVersion: min } });
    if (min > policy.minDecryptVersion) await this.#fleetApplied(req.signal);
    return updated;
  }

  /**
   * Marks the policy revoked and evicts (zeroizes) every cached key of it before and after the durable
   * write; acknowledged only after the audit record is durable. Idempotent.
   */
  async revoke(req: OperatorRequest & { reason: string }): Promise<PolicyRecord> {
    const policy = this.#get(req.tenant, req.id);
    if (policy.state === 'revoked' || policy.state === 'purged') {
      this.#o.cache.evictPolicy(policy.tenant, policy.id);
      await this.#fleetApplied(req.signal); // a retry waits for the fleet again
      return policy;
    }
    // Refuse from now on, before the durable write; evict (zeroize) at once.
    this.#o.gate.mark(policy.tenant, policy.id);
    this.#o.cache.evictPolicy(policy.tenant, policy.id);
    let updated: PolicyRecord;
    try {
      updated = await this.#update(policy, { state: 'revoked', stateReason: req.reason || 'revoked by operator', rollProgress: undefined });
    } finally {
      this.#o.gate.unmark(policy.tenant, policy.id);
    }
    this.#o.cache.evictPolicy(policy.tenant, policy.id);
    await this.#audit('policy.revoked', req, { reason: req.reason });
    await this.#fleetApplied(req.signal);
    return updated;
  }

  /**
   * Cryptographic deletion: destroys every wrapped copy of every version (availability copies included) and
   * leaves a tombstone. Refused unless the policy is revoked and the provider says both customer keys are
   * inaccessible, or `force` is given with a reason. Irreversible.
   */
  async purge(req: OperatorRequest & { force: boolean; reason: string }): Promise<PurgeReceipt> {
    const policy = this.#get(req.tenant, req.id);
    if (policy.state === 'purged') throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} is already purged`);
    if (policy.state !== 'revoked') throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} is ${policy.state}: revoke it before purging`);
    if (req.force && !req.reason) throw invalidArgument('purge with force needs a reason');
    if (!req.force) await this.#requireCustomerKeysInaccessible(policy, this.#signal(req.signal));
    const now = this.#now().toISOString();
    const versionsDestroyed = policy.versions.length;
    const copiesDestroyed = policy.versions.reduce((n, v) => n + v.copies.length, 0);
    await this.#update(policy, {
      state: 'purged',
      stateReason: `purged${req.force ? ' (forced)' : ''}: ${req.reason || 'customer keys inaccessible'}`,
      versions: policy.versions.map((v) => ({ version: v.version, createdAt: v.createdAt, copies: [] })),
      purgedAt: now,
      rollProgress: undefined,
    });
    this.#o.cache.evictPolicy(policy.tenant, policy.id);
    const record = await this.#audit('policy.purged', req, {
      reason: req.reason,
      details: { versionsDestroyed, copiesDestroyed, forced: req.force, receipt: 'irreversible: no wrapped copy of any intermediate-key version remains' },
    });
    await this.#fleetApplied(req.signal);
    return { tenant: policy.tenant, id: policy.id, purgedAt: now, versionsDestroyed, copiesDestroyed, forced: req.force, auditRecordHash: record.hash };
  }

  async evict(req: Omit<OperatorRequest, 'signal'>): Promise<number> {
    let evicted: number;
    if (req.tenant && req.id) evicted = this.#o.cache.evictPolicy(req.tenant, req.id);
    else if (req.tenant) evicted = this.#o.cache.evictTenant(req.tenant);
    else evicted = this.#o.cache.clear();
    await this.#o.audit.append({ type: 'cache.evicted', tenant: req.tenant || '*', policyId: req.id || '*', requestId: req.requestId, actor: req.actor, details: { evicted } });
    return evicted;
  }

  async #rollRoles(req: OperatorRequest & RecoveryOption, roles: KeyRole[], targets: Partial<Record<KeyRole, string>>): Promise<PolicyRecord> {
    let policy = this.#usable(req.tenant, req.id);
    const signal = this.#signal(req.signal);
    const pinned: Partial<Record<KeyRole, string>> = {};
    for (const role of roles) {
      const target = targets[role] ?? unpinned(policy.keys[role]);
      pinned[role] = (await this.#provider(role, () => this.#o.provider.resolve(target, { signal }))).uri;
    }
    if (roles.filter((r) => r !== 'availability').some((r) => pinned[r] === policy.keys[r === 'customer-a' ? 'customer-b' : 'customer-a'])) {
      throw invalidArgument('customer key A and customer key B must stay different keys');
    }
    const todo = policy.versions.filter((v) => roles.some((role) => v.copies.find((c) => c.role === role)?.keyUri !== pinned[role]));
    const previous = Object.fromEntries(roles.map((r) => [r, policy.keys[r]]));
    if (todo.length > 0) {
      policy = await this.#update(policy, { state: 'rolling', rollProgress: { done: 0, total: todo.length } });
      for (const [i, v] of todo.entries()) {
        const { ik } = await this.#unwrapForRoll(policy, v.version, req, signal);
        let copies: WrappedCopyRecord[];
        try {
          copies = [...v.copies];
          for (const role of roles) {
            if (copies.find((c) => c.role === role)?.keyUri === pinned[role]) continue;
            const fresh = await this.#wrapVerified(pinned[role]!, role, ik, signal);
            copies = [...copies.filter((c) => c.role !== role), fresh];
          }
        } finally {
          ik.destroy();
        }
        const versions = policy.versions.map((x) => (x.version === v.version ? { ...x, copies: sortCopies(copies) } : x));
        policy = await this.#update(policy, { versions, rollProgress: { done: i + 1, total: todo.length } });
      }
    }
    const keys = { ...policy.keys, ...pinned } as Record<KeyRole, string>;
    const changed = roles.some((r) => previous[r] !== keys[r]) || todo.length > 0;
    if (!changed) return policy;
    policy = await this.#update(policy, { keys, state: 'active', rollProgress: undefined, stateReason: undefined });
    const type = roles.length === KEY_ROLES.length ? 'policy.refreshed' : 'policy.rolled';
    await this.#audit(type, req, { reason: req.recovery ? `recovery: ${req.reason}` : undefined, details: { versionsRewrapped: todo.length, ...Object.fromEntries(roles.map((r) => [`${r}`, `${previous[r]} -> ${keys[r]}`])) } });
    return policy;
  }

  async #unwrapForRoll(policy: PolicyRecord, version: number, req: OperatorRequest & RecoveryOption, signal: AbortSignal) {
    try {
      return await this.#o.unwrapper.unwrapCustomer(policy, version, signal);
    } catch (err) {
      if (!(err instanceof CustomerKeysError) || !req.recovery) throw err;
      return this.#o.unwrapper.unwrapAvailability(policy, version, signal, { requestId: req.requestId, reason: `operator recovery by ${req.actor}: ${req.reason} (${err.reasons})` });
    }
  }

  /** Wraps `ik` under `keyUri` and proves the copy unwraps back to the same bytes before it is kept. */
  async #wrapVerified(keyUri: string, role: KeyRole, ik: SecretKey, signal: AbortSignal): Promise<WrappedCopyRecord> {
    const wrapped = await this.#provider(role, () => this.#o.provider.wrap(keyUri, ik, { signal }));
    const back = await this.#provider(role, () => this.#o.provider.unwrap(wrapped, { signal }));
    try {
      const a = back.expose();
      const b = ik.expose();
      if (a.length !== b.length || !timingSafeEqual(a, b)) throw new UnwrapdError('internal', `the new ${role} copy under ${wrapped.keyUri} did not unwrap to the same key`);
    } finally {
      back.destroy();
    }
    return { role, keyUri: wrapped.keyUri, algorithm: wrapped.algorithm, ciphertext: Buffer.from(wrapped.ciphertext).toString('base64') };
  }

  async #requireCustomerKeysInaccessible(policy: PolicyRecord, signal: AbortSignal): Promise<void> {
    const uris = new Set<string>();
    for (const v of policy.versions) for (const c of v.copies) if (c.role !== 'availability') uris.add(c.keyUri);
    for (const uri of uris) {
      const status = await this.#o.provider.status(uri, { signal }).catch((err: unknown) => {
        const e = classify(err, uri);
        return { uri, usable: false, kind: e.kind, reason: e.reason };
      });
      if (status.usable) throw new UnwrapdError('failed_precondition', `customer key ${uri} is still accessible: purge needs both customer keys revoked at the provider (or force with a reason)`);
      if (status.kind !== 'revoked') throw new UnwrapdError('failed_precondition', `customer key ${uri} is unavailable (${status.reason ?? 'unknown'}), not revoked: the provider did not confirm it is inaccessible`);
    }
  }

  #get(tenant: string, id: string): PolicyRecord {
    const policy = this.#o.registry.get(tenant, id);
    if (!policy) throw new UnwrapdError('not_found', `no policy ${tenant}/${id}`);
    return policy;
  }

  #usable(tenant: string, id: string): PolicyRecord {
    const policy = this.#get(tenant, id);
    if (policy.state !== 'active' && policy.state !== 'rolling') throw new UnwrapdError('failed_precondition', `policy ${tenant}/${id} is ${policy.state}`);
    return policy;
  }

  async #update(policy: PolicyRecord, change: Partial<PolicyRecord>): Promise<PolicyRecord> {
    const next = { ...policy, ...change, updatedAt: change.updatedAt ?? this.#now().toISOString() } as PolicyRecord;
    for (const k of Object.keys(next) as Array<keyof PolicyRecord>) if (next[k] === undefined) delete next[k];
    return this.#o.registry.update(next, policy.revision);
  }

  #audit(type: Parameters<AuditLog['append']>[0]['type'], req: OperatorRequest, extra: { keyVersion?: number; reason?: string; details?: Record<string, string | number | boolean> }): Promise<AuditRecord> {
    return this.#o.audit.append({ type, tenant: req.tenant, policyId: req.id, requestId: req.requestId, actor: req.actor, ...extra });
  }

  /**
   * A restricting change is acknowledged only once every live instance of a fleet has applied it (or its
   * lease expired); the change is durable and audited before this wait, so a wait that fails (UNAVAILABLE or
   * DEADLINE_EXCEEDED, naming the instances) never undoes it. docs/fleet.md.
   */
  async #fleetApplied(signal: AbortSignal): Promise<void> {
    await this.#o.registry.awaitFleet?.(signal);
  }

  #signal(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.#o.providerTimeoutMs * 4)]);
  }

  async #provider<T>(role: KeyRole, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isProviderError(err)) {
        throw new UnwrapdError(err.kind === 'revoked' ? 'failed_precondition' : 'unavailable', `${role} key ${err.keyUri} cannot be used: ${err.reason}`, { cause: err });
      }
      throw err;
    }
  }
}

function checkRecovery(req: RecoveryOption): void {
  if (req.recovery && !req.reason) throw invalidArgument('operator recovery needs a reason');
}

function sortCopies(copies: WrappedCopyRecord[]): WrappedCopyRecord[] {
  return [...copies].sort((a, b) => KEY_ROLES.indexOf(a.role) - KEY_ROLES.indexOf(b.role));
}
