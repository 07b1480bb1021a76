import { randomBytes } from 'node:crypto';
import { SecretKey } from '../crypto/secret-key.js';
import { invalidArgument } from '../errors.js';
import {
  KEY_ROLES,
  type KeyRole,
  type KeyVersionRecord,
  type PolicyRecord,
  type WrappedCopyRecord,
} from '../registry/policy.js';
import {
  checkRecovery,
  refuseSharedAvailabilityKey,
  rollRoles,
  rollToNewAvailabilityKey,
  wrapVerified,
} from './key-roll.js';
import type { LifecycleOptions, OperatorRequest, PurgeReceipt, RecoveryOption } from './lifecycle-types.js';
import { LifecycleWrites } from './lifecycle-writes.js';
import { purgePolicy } from './purge-steps.js';

export type { LifecycleOptions, OperatorRequest, PurgeReceipt, RecoveryOption } from './lifecycle-types.js';

/**
 * The Customer Key lifecycle: roll a root key, refresh to the latest versions, rotate the intermediate key,
 * revoke, purge. Every step that changes a policy goes through the registry's optimistic revision check (a
 * concurrent change makes it fail with FAILED_PRECONDITION rather than lose an update), and every change
 * carries its audit record into the registry's write (one transaction with PostgreSQL; appended right after
 * the durable write with the file registry), so it is audited before it is acknowledged. docs/lifecycle.md
 * describes the rules; rolls are in key-roll.ts, purge in purge-steps.ts, the shared writes in
 * lifecycle-writes.ts.
 */
export class LifecycleService {
  readonly #w: LifecycleWrites;

  constructor(opts: LifecycleOptions) {
    this.#w = new LifecycleWrites(opts);
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
    if (req.newAvailabilityKey) return rollToNewAvailabilityKey(this.#w, req);
    if (req.role === 'availability' && req.newKeyUri) refuseSharedAvailabilityKey(this.#w, req.newKeyUri, req);
    return rollRoles(this.#w, req, [req.role], req.newKeyUri ? { [req.role]: req.newKeyUri } : {});
  }

  /** Rewraps every version under the latest version of each of the three root keys. */
  async refresh(req: OperatorRequest & RecoveryOption): Promise<PolicyRecord> {
    checkRecovery(req);
    return rollRoles(this.#w, req, [...KEY_ROLES], {});
  }

  /** A new intermediate-key version becomes the one used to encrypt; older ones keep decrypting. */
  async rotate(req: OperatorRequest & { minDecryptVersion: number }): Promise<PolicyRecord> {
    const w = this.#w;
    const policy = w.usable(req.tenant, req.id);
    const version = Math.max(...policy.versions.map((v) => v.version)) + 1;
    const min = req.minDecryptVersion || policy.minDecryptVersion;
    if (min < policy.minDecryptVersion)
      throw invalidArgument(`min_decrypt_version cannot go down (it is ${policy.minDecryptVersion})`);
    if (min > version) throw invalidArgument(`min_decrypt_version ${min} is above the new version ${version}`);
    const signal = w.signal(req.signal);
    const ik = SecretKey.copyFrom(randomBytes(32), true);
    w.requireNotRevoked(policy, 'rotation');
    let copies: WrappedCopyRecord[];
    try {
      copies = await Promise.all(KEY_ROLES.map((role) => wrapVerified(w, policy.keys[role], role, ik, signal)));
    } finally {
      ik.destroy();
    }
    const now = w.now().toISOString();
    const versions: KeyVersionRecord[] = [...policy.versions, { version, createdAt: now, copies }];
    const retires = min > policy.minDecryptVersion;
    const { policy: updated } = await w.step(
      policy,
      { versions, activeVersion: version, minDecryptVersion: min, updatedAt: now },
      {
        audit: () => [w.fields('policy.rotated', req, { keyVersion: version, details: { minDecryptVersion: min } })],
        // Retired versions leave memory as soon as the write lands, before its record is appended.
        onWrite: retires ? () => w.opts.cache.evictPolicy(policy.tenant, policy.id) : undefined,
      },
    );
    if (retires) await w.fleetApplied(req.signal);
    return updated;
  }

  /**
   * Marks the policy revoked and evicts (zeroizes) every cached key of it before and after the durable
   * write, which carries the `policy.revoked` record (both commit, or neither). Revoke always wins:
   * idempotent (a revoked or purged policy is returned as it is, with no second record), never refused
   * because of a concurrent roll, refresh, rotation or another Revoke (a revision conflict is retried on
   * fresh state; the gate marks the policy from the start, so a running roll's next write is refused and it
   * stops without writing over the revocation).
   */
  async revoke(req: OperatorRequest & { reason: string }): Promise<PolicyRecord> {
    const w = this.#w;
    const { cache, gate } = w.opts;
    const policy = w.get(req.tenant, req.id);
    if (policy.state === 'revoked' || policy.state === 'purged') {
      cache.evictPolicy(policy.tenant, policy.id);
      await w.fleetApplied(req.signal); // a retry waits for the fleet again
      return policy;
    }
    // Refuse from now on, before the durable write; evict (zeroize) at once; open streams of it end.
    gate.mark(policy.tenant, policy.id);
    cache.evictPolicy(policy.tenant, policy.id);
    let result: { policy: PolicyRecord };
    try {
      result = await w.writeWinning(
        req,
        (current) =>
          current.state === 'revoked' || current.state === 'purged'
            ? undefined
            : { state: 'revoked', stateReason: req.reason || 'revoked by operator', rollProgress: undefined },
        () => [w.fields('policy.revoked', req, { reason: req.reason })],
      );
    } finally {
      gate.unmark(policy.tenant, policy.id);
    }
    cache.evictPolicy(policy.tenant, policy.id);
    await w.fleetApplied(req.signal);
    return result.policy;
  }

  /** Cryptographic deletion (purge-steps.ts). */
  purge(req: OperatorRequest & { force: boolean; reason: string }): Promise<PurgeReceipt> {
    return purgePolicy(this.#w, req);
  }

  async evict(req: Omit<OperatorRequest, 'signal'>): Promise<number> {
    const { cache } = this.#w.opts;
    let evicted: number;
    if (req.tenant && req.id) evicted = cache.evictPolicy(req.tenant, req.id);
    else if (req.tenant) evicted = cache.evictTenant(req.tenant);
    else evicted = cache.clear();
    await this.#w.audit(
      'cache.evicted',
      { ...req, tenant: req.tenant || '*', id: req.id || '*' },
      { details: { evicted } },
    );
    return evicted;
  }
}
