import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditLog, AuditRecord } from '../audit/audit-log.js';
import type { KeyCache } from '../cache/key-cache.js';
import { SecretKey } from '../crypto/secret-key.js';
import { errorText, invalidArgument, UnwrapdError } from '../errors.js';
import { unpinned } from '../providers/key-uri.js';
import { isProviderError } from '../providers/provider-error.js';
import type { DestructionConfirmation, RootKeyProvider } from '../providers/root-key-provider.js';
import { RevisionConflictError, type PolicyRegistry } from '../registry/policy-registry.js';
import type { RevocationGate } from '../revocation/revocation-gate.js';
import {
  KEY_ROLES,
  type KeyRole,
  type KeyVersionRecord,
  type PolicyRecord,
  type WrappedCopyRecord,
} from '../registry/policy.js';
import { isKeyBase } from '../providers/key-base.js';
import {
  availabilityKeyHint,
  availabilityKeysOf,
  describePolicies,
  keyIdentity,
  otherPoliciesUsing,
} from './availability-keys.js';
import { CustomerKeysError, type KeyUnwrapper } from './key-unwrapper.js';
import { isServing, policyStateError, requirePolicy } from './policy-state.js';
import { callProvider, classifyProviderFailure, providerFailure } from './provider-failure.js';

export interface LifecycleOptions {
  registry: PolicyRegistry;
  provider: RootKeyProvider;
  unwrapper: KeyUnwrapper;
  cache: KeyCache;
  audit: AuditLog;
  gate: RevocationGate;
  providerTimeoutMs: number;
  /** Where RollKey's `newAvailabilityKey` creates the key when it names no base (default `local:`). */
  availabilityKeyBase?: string;
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
  /** The providers' confirmations that the policy's availability key(s) were destroyed. */
  keyDestructions: DestructionConfirmation[];
}

/**
 * The Customer Key lifecycle: roll a root key, refresh to the latest versions, rotate the intermediate key,
 * revoke, purge. Every step that changes a policy goes through the registry's optimistic revision check (a
 * concurrent change makes it fail with FAILED_PRECONDITION rather than lose an update), and every one is in
 * the audit log, durably, before it is acknowledged. docs/lifecycle.md describes the rules.
 */
export class LifecycleService {
  readonly #opts: LifecycleOptions;
  readonly #now: () => Date;

  constructor(opts: LifecycleOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * Rewraps every intermediate-key version under a new version (or another key) for one role. For the
   * availability role, a key another policy uses is refused, and `newAvailabilityKey` first creates a key
   * of the policy's own (migration of shared availability keys, docs/lifecycle.md).
   */
  async rollKey(
    req: OperatorRequest & RecoveryOption & { role: KeyRole; newKeyUri: string; newAvailabilityKey?: boolean },
  ): Promise<PolicyRecord> {
    if (!KEY_ROLES.includes(req.role)) throw invalidArgument('role must be customer-a, customer-b or availability');
    checkRecovery(req);
    if (req.newAvailabilityKey) return this.#rollToNewAvailabilityKey(req);
    if (req.role === 'availability' && req.newKeyUri) this.#refuseSharedAvailabilityKey(req.newKeyUri, req);
    const policy = await this.#rollRoles(req, [req.role], req.newKeyUri ? { [req.role]: req.newKeyUri } : {});
    return policy;
  }

  /** RollKey's `newAvailabilityKey`: creates the policy's own key, then rolls the availability role to it. */
  async #rollToNewAvailabilityKey(
    req: OperatorRequest & RecoveryOption & { role: KeyRole; newKeyUri: string },
  ): Promise<PolicyRecord> {
    if (req.role !== 'availability') throw invalidArgument('new_availability_key is for the availability role only');
    if (req.newKeyUri && !isKeyBase(req.newKeyUri))
      throw invalidArgument(
        'with new_availability_key, new_key_uri is empty or a key base (local:, pkcs11:token=<label>, https://<vault>/keys/)',
      );
    this.#usable(req.tenant, req.id);
    const provider = this.#opts.provider;
    if (!provider.createKey)
      throw new UnwrapdError('failed_precondition', 'the root-key provider cannot create availability keys', {
        reason: 'PROVIDER_UNSUPPORTED',
      });
    const base = req.newKeyUri || (this.#opts.availabilityKeyBase ?? 'local:');
    const created = await callProvider('availability', () =>
      provider.createKey!(base, availabilityKeyHint(req.tenant, req.id), { signal: this.#signal(req.signal) }),
    );
    try {
      return await this.#rollRoles(req, ['availability'], { availability: created.uri });
    } catch (err) {
      // Versions already rewrapped depend on the new key: it is kept, and the message says how to resume.
      throw new UnwrapdError(
        err instanceof UnwrapdError ? err.code : 'internal',
        `${errorText(err)} (the new availability key ${created.uri} was created; resume with: unwrapd policy roll --tenant ${req.tenant} --id ${req.id} --role availability --key ${created.uri})`,
        { cause: err, ...(err instanceof UnwrapdError ? { reason: err.reason, metadata: err.metadata } : {}) },
      );
    }
  }

  #refuseSharedAvailabilityKey(keyUri: string, self: { tenant: string; id: string }): void {
    if (isKeyBase(keyUri))
      throw invalidArgument('new_key_uri is a key base: set new_availability_key to create a key there');
    const users = otherPoliciesUsing(this.#opts.registry.list(), keyUri, self);
    if (users.length > 0)
      throw new UnwrapdError(
        'failed_precondition',
        `availability key ${keyIdentity(keyUri)} is already used by ${describePolicies(users)}: each policy needs its own availability key (purge destroys it)`,
        { reason: 'AVAILABILITY_KEY_SHARED', metadata: { tenant: self.tenant, policy_id: self.id } },
      );
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
    if (min < policy.minDecryptVersion)
      throw invalidArgument(`min_decrypt_version cannot go down (it is ${policy.minDecryptVersion})`);
    if (min > version) throw invalidArgument(`min_decrypt_version ${min} is above the new version ${version}`);
    const signal = this.#signal(req.signal);
    const ik = SecretKey.copyFrom(randomBytes(32), true);
    this.#requireNotRevoked(policy, 'rotation');
    let copies: WrappedCopyRecord[];
    try {
      copies = await Promise.all(KEY_ROLES.map((role) => this.#wrapVerified(policy.keys[role], role, ik, signal)));
    } finally {
      ik.destroy();
    }
    const now = this.#now().toISOString();
    const versions: KeyVersionRecord[] = [...policy.versions, { version, createdAt: now, copies }];
    const updated = await this.#step(policy, {
      versions,
      activeVersion: version,
      minDecryptVersion: min,
      updatedAt: now,
    });
    if (min > policy.minDecryptVersion) this.#opts.cache.evictPolicy(policy.tenant, policy.id); // retired versions leave memory
    await this.#audit('policy.rotated', req, { keyVersion: version, details: { minDecryptVersion: min } });
    if (min > policy.minDecryptVersion) await this.#fleetApplied(req.signal);
    return updated;
  }

  /**
   * Marks the policy revoked and evicts (zeroizes) every cached key of it before and after the durable
   * write; acknowledged only after the audit record is durable. Revoke always wins: idempotent (a revoked or
   * purged policy is returned as it is), never refused because of a concurrent roll, refresh, rotation or
   * another Revoke (a revision conflict is retried on fresh state; the gate marks the policy from the start, so
   * a running roll's next write is refused and it stops without writing over the revocation).
   */
  async revoke(req: OperatorRequest & { reason: string }): Promise<PolicyRecord> {
    const policy = this.#get(req.tenant, req.id);
    if (policy.state === 'revoked' || policy.state === 'purged') {
      this.#opts.cache.evictPolicy(policy.tenant, policy.id);
      await this.#fleetApplied(req.signal); // a retry waits for the fleet again
      return policy;
    }
    // Refuse from now on, before the durable write; evict (zeroize) at once; open streams of it end.
    this.#opts.gate.mark(policy.tenant, policy.id);
    this.#opts.cache.evictPolicy(policy.tenant, policy.id);
    let result: { policy: PolicyRecord; wrote: boolean };
    try {
      result = await this.#writeWinning(req, (current) =>
        current.state === 'revoked' || current.state === 'purged'
          ? undefined
          : { state: 'revoked', stateReason: req.reason || 'revoked by operator', rollProgress: undefined },
      );
    } finally {
      this.#opts.gate.unmark(policy.tenant, policy.id);
    }
    this.#opts.cache.evictPolicy(policy.tenant, policy.id);
    if (result.wrote) await this.#audit('policy.revoked', req, { reason: req.reason });
    await this.#fleetApplied(req.signal);
    return result.policy;
  }

  /**
   * Cryptographic deletion: destroys the policy's availability key at its provider (so no copy wrapped under
   * it, in a backup or in PostgreSQL's history, can be unwrapped again), then every wrapped copy of every
   * version, and leaves a tombstone. Refused unless the policy is revoked and the provider says both
   * customer keys are inaccessible, or `force` is given with a reason; refused while another policy uses
   * the availability key (migrate it first). The key is destroyed before the tombstone is written, so a
   * failure or crash between the two leaves a revoked (never a purged) policy, and a retry finishes.
   * Irreversible. Idempotent: a purged policy gets a receipt that destroyed nothing (the first purge's
   * receipt is in the audit log); concurrent Purges all succeed, one of them writing the tombstone.
   */
  async purge(req: OperatorRequest & { force: boolean; reason: string }): Promise<PurgeReceipt> {
    const policy = this.#get(req.tenant, req.id);
    if (policy.state === 'purged') {
      await this.#fleetApplied(req.signal); // a retry waits for the fleet again
      return alreadyPurged(policy, req.force);
    }
    if (policy.state !== 'revoked')
      throw new UnwrapdError(
        'failed_precondition',
        `policy ${policy.tenant}/${policy.id} is ${policy.state}: revoke it before purging`,
        {
          reason: 'PURGE_REQUIRES_REVOKE',
          metadata: { tenant: policy.tenant, policy_id: policy.id, state: policy.state },
        },
      );
    if (req.force && !req.reason) throw invalidArgument('purge with force needs a reason');
    if (!req.force) await this.#requireCustomerKeysInaccessible(policy, this.#signal(req.signal));
    const keyDestructions = await this.#destroyAvailabilityKeys(policy, req);
    const now = this.#now().toISOString();
    let versionsDestroyed = 0;
    let copiesDestroyed = 0;
    const result = await this.#writeWinning(req, (current) => {
      if (current.state === 'purged') return undefined;
      if (current.state !== 'revoked')
        throw new UnwrapdError(
          'failed_precondition',
          `policy ${current.tenant}/${current.id} is ${current.state}: revoke it before purging`,
          {
            reason: 'PURGE_REQUIRES_REVOKE',
            metadata: { tenant: current.tenant, policy_id: current.id, state: current.state },
          },
        );
      versionsDestroyed = current.versions.length;
      copiesDestroyed = current.versions.reduce((n, v) => n + v.copies.length, 0);
      return {
        state: 'purged',
        stateReason: `purged${req.force ? ' (forced)' : ''}: ${req.reason || 'customer keys inaccessible'}`,
        versions: current.versions.map((v) => ({ version: v.version, createdAt: v.createdAt, copies: [] })),
        purgedAt: now,
        rollProgress: undefined,
      };
    });
    this.#opts.cache.evictPolicy(policy.tenant, policy.id);
    if (!result.wrote) {
      await this.#fleetApplied(req.signal);
      return alreadyPurged(result.policy, req.force);
    }
    const record = await this.#audit('policy.purged', req, {
      reason: req.reason,
      details: {
        versionsDestroyed,
        copiesDestroyed,
        forced: req.force,
        availabilityKeysDestroyed: keyDestructions.map((d) => d.keyUri).join(' '),
        receipt:
          'irreversible: no wrapped copy of any intermediate-key version remains, and the availability key is destroyed',
      },
    });
    await this.#fleetApplied(req.signal);
    return {
      tenant: policy.tenant,
      id: policy.id,
      purgedAt: now,
      versionsDestroyed,
      copiesDestroyed,
      forced: req.force,
      auditRecordHash: record.hash,
      keyDestructions,
    };
  }

  /**
   * Purge's crypto-shredding step: destroys every availability key the policy's copies are under, through
   * its provider, each destruction audited. All are checked first: a key another active policy uses is
   * never destroyed, and the purge is refused until that policy no longer shares it (migrate-availability).
   * Other policies on the key that are revoked (a state they never leave but by purge) lose their
   * availability-key reads now rather than at their own purge.
   */
  async #destroyAvailabilityKeys(policy: PolicyRecord, req: OperatorRequest): Promise<DestructionConfirmation[]> {
    const keys = availabilityKeysOf(policy);
    const all = this.#opts.registry.list();
    for (const key of keys) {
      // Revoked policies never become active again: one still on the key loses only its system reads before its own purge.
      const users = otherPoliciesUsing(all, key, policy).filter((p) => p.state !== 'revoked');
      if (users.length > 0) {
        throw new UnwrapdError(
          'failed_precondition',
          `availability key ${key} is shared with ${describePolicies(users)}: purge destroys the policy's availability key, and that would break them. Give the policies their own keys first (unwrapd policy migrate-availability), then purge`,
          { reason: 'AVAILABILITY_KEY_SHARED', metadata: { tenant: policy.tenant, policy_id: policy.id } },
        );
      }
    }
    const provider = this.#opts.provider;
    if (!provider.destroyKey)
      throw new UnwrapdError(
        'failed_precondition',
        'the root-key provider cannot destroy availability keys: purge would leave the key alive',
        { reason: 'PROVIDER_UNSUPPORTED' },
      );
    const signal = this.#signal(req.signal);
    const done: DestructionConfirmation[] = [];
    for (const key of keys) {
      const confirmation = await provider.destroyKey(key, { signal }).catch((err: unknown) => {
        if (!isProviderError(err)) throw err;
        throw providerFailure(
          err,
          `availability key ${key} could not be destroyed (${err.reason}): the policy stays revoked, not purged; retry the purge`,
          'availability',
        );
      });
      await this.#audit('availability_key.destroyed', req, {
        details: {
          keyUri: confirmation.keyUri,
          provider: confirmation.provider,
          action: confirmation.action,
          alreadyDestroyed: confirmation.alreadyDestroyed,
        },
      });
      done.push(confirmation);
    }
    return done;
  }

  async evict(req: Omit<OperatorRequest, 'signal'>): Promise<number> {
    let evicted: number;
    if (req.tenant && req.id) evicted = this.#opts.cache.evictPolicy(req.tenant, req.id);
    else if (req.tenant) evicted = this.#opts.cache.evictTenant(req.tenant);
    else evicted = this.#opts.cache.clear();
    await this.#opts.audit.append({
      type: 'cache.evicted',
      tenant: req.tenant || '*',
      policyId: req.id || '*',
      requestId: req.requestId,
      actor: req.actor,
      details: { evicted },
    });
    return evicted;
  }

  async #rollRoles(
    req: OperatorRequest & RecoveryOption,
    roles: KeyRole[],
    targets: Partial<Record<KeyRole, string>>,
  ): Promise<PolicyRecord> {
    const found = this.#get(req.tenant, req.id);
    if (req.recovery && (found.state === 'revoked' || found.state === 'purged'))
      await this.#refuseRecovery(req, undefined, `policy ${found.state}`);
    let policy = this.#usable(req.tenant, req.id);
    const signal = this.#signal(req.signal);
    const pinned: Partial<Record<KeyRole, string>> = {};
    for (const role of roles) {
      const target = targets[role] ?? unpinned(policy.keys[role]);
      pinned[role] = (
        await callProvider(role, () =>
          this.#opts.provider.resolve(target, { signal }).catch(async (err: unknown) => {
            // A customer key that says revoked refuses a recovery here already (its latest version is asked for).
            if (req.recovery && role !== 'availability' && isProviderError(err) && err.kind === 'revoked')
              await this.#refuseRecovery(req, undefined, `${role}: revoked (${err.reason})`);
            throw err;
          }),
        )
      ).uri;
    }
    if (
      roles
        .filter((r) => r !== 'availability')
        .some((r) => pinned[r] === policy.keys[r === 'customer-a' ? 'customer-b' : 'customer-a'])
    ) {
      throw invalidArgument('customer key A and customer key B must stay different keys');
    }
    const todo = policy.versions.filter((v) =>
      roles.some((role) => v.copies.find((c) => c.role === role)?.keyUri !== pinned[role]),
    );
    const previous = Object.fromEntries(roles.map((r) => [r, policy.keys[r]]));
    if (todo.length > 0) {
      for (const [i, v] of todo.entries()) {
        // The first version is unwrapped before the policy is marked rolling: a refused recovery changes nothing.
        const { ik } = await this.#unwrapForRoll(policy, v.version, req, signal);
        let copies: WrappedCopyRecord[];
        try {
          if (i === 0)
            policy = await this.#step(policy, { state: 'rolling', rollProgress: { done: 0, total: todo.length } });
          copies = [...v.copies];
          for (const role of roles) {
            if (copies.find((c) => c.role === role)?.keyUri === pinned[role]) continue;
            this.#requireNotRevoked(policy, 'roll');
            const fresh = await this.#wrapVerified(pinned[role]!, role, ik, signal);
            copies = [...copies.filter((c) => c.role !== role), fresh];
          }
        } finally {
          ik.destroy();
        }
        const versions = policy.versions.map((x) =>
          x.version === v.version ? { ...x, copies: sortCopies(copies) } : x,
        );
        policy = await this.#step(policy, { versions, rollProgress: { done: i + 1, total: todo.length } });
      }
    }
    const keys = { ...policy.keys, ...pinned } as Record<KeyRole, string>;
    const changed = roles.some((r) => previous[r] !== keys[r]) || todo.length > 0;
    if (!changed) return policy;
    policy = await this.#step(policy, { keys, state: 'active', rollProgress: undefined, stateReason: undefined });
    const type = roles.length === KEY_ROLES.length ? 'policy.refreshed' : 'policy.rolled';
    await this.#audit(type, req, {
      reason: req.recovery ? `recovery: ${req.reason}` : undefined,
      details: {
        versionsRewrapped: todo.length,
        ...Object.fromEntries(roles.map((r) => [`${r}`, `${previous[r]} -> ${keys[r]}`])),
      },
    });
    return policy;
  }

  async #unwrapForRoll(
    policy: PolicyRecord,
    version: number,
    req: OperatorRequest & RecoveryOption,
    signal: AbortSignal,
  ) {
    this.#requireNotRevoked(policy, 'roll');
    try {
      return await this.#opts.unwrapper.unwrapCustomer(policy, version, signal, req);
    } catch (err) {
      if (!(err instanceof CustomerKeysError) || !req.recovery) throw err;
      // Recovery is for keys that are lost or unreachable, never to undo the customer's revocation: any
      // customer key that said revoked refuses it (docs/lifecycle.md).
      if (err.kind === 'revoked')
        await this.#refuseRecovery(
          req,
          version,
          err.failures.map((f) => `${f.role}: ${f.error.kind} (${f.error.reason})`).join(', '),
        );
      this.#requireNotRevoked(this.#get(policy.tenant, policy.id), 'roll');
      return this.#opts.unwrapper.unwrapAvailability(policy, version, signal, {
        requestId: req.requestId,
        reason: `operator recovery by ${req.actor}: ${req.reason} (${err.reasons})`,
      });
    }
  }

  /** Audits a refused recovery (the failure classes, no key material) and throws FAILED_PRECONDITION. */
  async #refuseRecovery(
    req: OperatorRequest & RecoveryOption,
    version: number | undefined,
    reasons: string,
  ): Promise<never> {
    await this.#audit('recovery.refused', req, {
      keyVersion: version,
      reason: req.reason,
      details: { failures: reasons },
    });
    throw new UnwrapdError(
      'failed_precondition',
      `recovery refused for policy ${req.tenant}/${req.id}: ${reasons}; the availability key recovers keys that are lost or unreachable, never a customer's revocation`,
      { reason: 'RECOVERY_REFUSED', metadata: { tenant: req.tenant, policy_id: req.id } },
    );
  }

  /** Wraps `ik` under `keyUri` and proves the copy unwraps back to the same bytes before it is kept. */
  async #wrapVerified(keyUri: string, role: KeyRole, ik: SecretKey, signal: AbortSignal): Promise<WrappedCopyRecord> {
    const wrapped = await callProvider(role, () => this.#opts.provider.wrap(keyUri, ik, { signal }));
    const back = await callProvider(role, () => this.#opts.provider.unwrap(wrapped, { signal }));
    try {
      const a = back.expose();
      const b = ik.expose();
      if (a.length !== b.length || !timingSafeEqual(a, b))
        throw new UnwrapdError(
          'internal',
          `the new ${role} copy under ${wrapped.keyUri} did not unwrap to the same key`,
        );
    } finally {
      back.destroy();
    }
    return {
      role,
      keyUri: wrapped.keyUri,
      algorithm: wrapped.algorithm,
      ciphertext: Buffer.from(wrapped.ciphertext).toString('base64'),
    };
  }

  async #requireCustomerKeysInaccessible(policy: PolicyRecord, signal: AbortSignal): Promise<void> {
    const uris = new Set<string>();
    for (const v of policy.versions) for (const c of v.copies) if (c.role !== 'availability') uris.add(c.keyUri);
    for (const uri of uris) {
      const status = await this.#opts.provider.status(uri, { signal }).catch((err: unknown) => {
        const e = classifyProviderFailure(err, uri);
        return { uri, usable: false, kind: e.kind, reason: e.reason };
      });
      if (status.usable)
        throw new UnwrapdError(
          'failed_precondition',
          `customer key ${uri} is still accessible: purge needs both customer keys revoked at the provider (or force with a reason)`,
          { reason: 'CUSTOMER_KEY_STILL_ACCESSIBLE', metadata: { tenant: policy.tenant, policy_id: policy.id } },
        );
      if (status.kind !== 'revoked')
        throw new UnwrapdError(
          'failed_precondition',
          `customer key ${uri} is unavailable (${status.reason ?? 'unknown'}), not revoked: the provider did not confirm it is inaccessible`,
          {
            reason: 'CUSTOMER_KEY_REVOCATION_UNCONFIRMED',
            metadata: { tenant: policy.tenant, policy_id: policy.id, provider_reason: status.reason ?? 'unknown' },
          },
        );
    }
  }

  #get(tenant: string, id: string): PolicyRecord {
    return requirePolicy(this.#opts.registry, tenant, id);
  }

  #usable(tenant: string, id: string): PolicyRecord {
    const policy = this.#get(tenant, id);
    if (!isServing(policy)) throw policyStateError(policy, `is ${policy.state}`);
    return policy;
  }

  async #update(policy: PolicyRecord, change: Partial<PolicyRecord>): Promise<PolicyRecord> {
    const next = { ...policy, ...change, updatedAt: change.updatedAt ?? this.#now().toISOString() } as PolicyRecord;
    for (const k of Object.keys(next) as Array<keyof PolicyRecord>) if (next[k] === undefined) delete next[k];
    return this.#opts.registry.update(next, policy.revision);
  }

  /**
   * One write of a roll, refresh or rotation: refused once a revocation has started (here: the gate; anywhere:
   * the registry's state, or a revision conflict with a revoked record). Never writes over a revocation.
   */
  async #step(policy: PolicyRecord, change: Partial<PolicyRecord>): Promise<PolicyRecord> {
    const what = change.activeVersion !== undefined ? 'rotation' : 'roll';
    this.#requireNotRevoked(policy, what);
    try {
      return await this.#update(policy, change);
    } catch (err) {
      if (isRevisionConflict(err)) this.#requireNotRevoked(this.#get(policy.tenant, policy.id), what);
      throw err;
    }
  }

  /** FAILED_PRECONDITION "policy revoked during the roll" once the policy is revoked, purged, or being revoked here. */
  #requireNotRevoked(policy: PolicyRecord, what: 'roll' | 'rotation'): void {
    const current = this.#opts.registry.get(policy.tenant, policy.id) ?? policy;
    const state = this.#opts.gate.isRevoking(policy.tenant, policy.id) ? 'revoked' : current.state;
    if (state === 'revoked' || state === 'purged') throw policyStateError(policy, `${state} during the ${what}`, state);
  }

  /**
   * A write that wins over concurrent lifecycle operations (Revoke, Purge): `change` is applied to the current
   * record, and on a revision conflict re-applied to the record that won, until it is written or `change` says
   * there is nothing to do (undefined: the record is returned as it is). Bounded, with a short backoff: a roll
   * writes once per version at most, so it cannot starve this.
   */
  async #writeWinning(
    req: OperatorRequest,
    change: (current: PolicyRecord) => Partial<PolicyRecord> | undefined,
  ): Promise<{ policy: PolicyRecord; wrote: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const current = this.#get(req.tenant, req.id);
      const next = change(current);
      if (!next) return { policy: current, wrote: false };
      try {
        return { policy: await this.#update(current, next), wrote: true };
      } catch (err) {
        if (!isRevisionConflict(err) || attempt >= WINNING_ATTEMPTS) throw err;
        req.signal.throwIfAborted();
        await this.#changed(current, Math.min(2 ** attempt, 50));
      }
    }
  }

  /** Resolves once the registry holds a newer revision of `policy` (another writer's change), or after `ms`. */
  #changed(policy: PolicyRecord, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let off = () => {};
      const timer = setTimeout(() => (off(), resolve()), ms);
      off = this.#opts.registry.onChange((r) => {
        if (r.tenant === policy.tenant && r.id === policy.id && r.revision > policy.revision) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    });
  }

  #audit(
    type: Parameters<AuditLog['append']>[0]['type'],
    req: OperatorRequest,
    extra: { keyVersion?: number; reason?: string; details?: Record<string, string | number | boolean> },
  ): Promise<AuditRecord> {
    return this.#opts.audit.append({
      type,
      tenant: req.tenant,
      policyId: req.id,
      requestId: req.requestId,
      actor: req.actor,
      ...extra,
    });
  }

  /**
   * A restricting change is acknowledged only once every live instance of a fleet has applied it (or its
   * lease expired); the change is durable and audited before this wait, so a wait that fails (UNAVAILABLE or
   * DEADLINE_EXCEEDED, naming the instances) never undoes it. docs/fleet.md.
   */
  async #fleetApplied(signal: AbortSignal): Promise<void> {
    await this.#opts.registry.awaitFleet?.(signal);
  }

  #signal(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.#opts.providerTimeoutMs * 4)]);
  }
}

/** Revoke and Purge retry a revision conflict this many times (with a backoff up to 50 ms: several seconds). */
const WINNING_ATTEMPTS = 100;

function isRevisionConflict(err: unknown): boolean {
  return err instanceof RevisionConflictError;
}

function alreadyPurged(policy: PolicyRecord, forced: boolean): PurgeReceipt {
  return {
    tenant: policy.tenant,
    id: policy.id,
    purgedAt: policy.purgedAt ?? policy.updatedAt,
    versionsDestroyed: 0,
    copiesDestroyed: 0,
    forced,
    auditRecordHash: '',
    keyDestructions: [],
  };
}

function checkRecovery(req: RecoveryOption): void {
  if (req.recovery && !req.reason) throw invalidArgument('operator recovery needs a reason');
}

function sortCopies(copies: WrappedCopyRecord[]): WrappedCopyRecord[] {
  return [...copies].sort((a, b) => KEY_ROLES.indexOf(a.role) - KEY_ROLES.indexOf(b.role));
}
