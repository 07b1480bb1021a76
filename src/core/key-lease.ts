import type { KeyCache } from '../cache/key-cache.js';
import { StaleLoadError } from '../cache/key-cache.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import type { EnvelopeRef } from '../crypto/envelope.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { decryptionFailed, policyMetadata, UnwrapdError } from '../errors.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { policyKey, type PolicyRecord } from '../registry/policy.js';
import type { RevocationGate } from '../revocation/revocation-gate.js';
import { CustomerKeysError, type KeyUnwrapper } from './key-unwrapper.js';
import { isServing, policyStateError, requirePolicy, requireUsable } from './policy-state.js';

export type Purpose = 'user' | 'system';

export interface CallerRequest {
  tenant: string;
  context: EncryptionContext;
  /** `system` has been checked against the caller's roles at the edge. */
  purpose: Purpose;
  requestId: string;
  signal: AbortSignal;
  /** The caller's identity (`unix:...`, `tls:...`, `mesh:...`), for the audit of an availability-key use. */
  actor?: string;
  /** The request's trace id, for the log lines it causes (a provider failure, an availability-key use). */
  traceId?: string;
}

/** What the key leases need of a request (batches carry a context per item, not per call). */
export type LeaseRequest = Omit<CallerRequest, 'context'>;

/**
 * What a key is taken for:
 * - `read`: to open content; a `system` reader of a revoked mailbox policy may go through the availability key;
 * - `write`: to seal new content under the policy's version (never through the availability key);
 * - `move`: to carry content out of the policy into another (Rewrap's source): never through the availability
 *   key, and refused once the policy is revoked, for every purpose.
 */
export type KeyUse = 'read' | 'write' | 'move';

/** Something open on a policy (a stream's content key, a request waiting for a key) that a change may end. */
export interface OpenHolder {
  /** The state check of its next key use; throws once the holder may not go on. */
  check(): void;
  /** Called once, with the error `check` threw: stop now, zeroize what is held. */
  end(err: unknown): void;
}

export interface KeyLeasesOptions {
  registry: PolicyRegistry;
  cache: KeyCache;
  unwrapper: KeyUnwrapper;
  gate: RevocationGate;
  /** Refuses every use while the instance may be missing revocations (fleet feed or lease lost). */
  fence?: { check(): void };
}

interface Lease {
  kek: SecretKey;
  /** The lease's own key (the availability path): destroyed once used. Cached keys belong to the cache. */
  own: boolean;
}

/**
 * The one place keys are handed out for Encrypt, Decrypt, Rewrap, batches and streams. Its invariant:
 *
 *   the policy's state is checked synchronously right before every use of a key, and an eviction (revocation,
 *   rotation, refresh) during the wait for a key sends the request round again, re-reading the policy.
 *
 * `withKey` runs the caller's `use` synchronously right after that check, so no revocation can interleave
 * between the check and the use (a cached key is only destroyed between turns of the event loop).
 *
 * What stays open past one call (a stream's content key, a request waiting on an unwrap) is registered with
 * `hold()`: when the policy changes (the revocation gate marks it at the start of a Revoke, or the registry
 * reports a change, from this process or another) every holder of the policy is checked again, and the ones
 * that may not go on are ended at once.
 */
export class KeyLeases {
  readonly #opts: KeyLeasesOptions;
  readonly #open = new Map<string, Set<OpenHolder>>();

  constructor(opts: KeyLeasesOptions) {
    this.#opts = opts;
    opts.gate.onMark((tenant, policyId) => this.recheck(tenant, policyId));
    opts.registry.onChange((record) => this.recheck(record.tenant, record.id));
  }

  /**
   * The policy, if new content may be written under it now (NOT_FOUND, FAILED_PRECONDITION otherwise), whatever
   * the purpose (the availability key reads after a revocation, it never writes). With `version`: also that the
   * version is not retired (a rotation may have retired it meanwhile: UNAVAILABLE, retry).
   */
  writable(tenant: string, policyId: string, version?: number): PolicyRecord {
    this.#opts.fence?.check(); // deaf or fenced: UNAVAILABLE "revocation feed lost", whatever the purpose
    const policy = requirePolicy(this.#opts.registry, tenant, policyId);
    this.#requireServing(policy);
    if (version !== undefined && version < policy.minDecryptVersion) {
      throw new UnwrapdError(
        'unavailable',
        `policy ${tenant}/${policyId} was rotated during the request (key version ${version} retired); retry`,
        { reason: 'POLICY_KEYS_CHANGED', metadata: { ...policyMetadata(tenant, policyId), key_version: version } },
      );
    }
    return policy;
  }

  /**
   * The policy content names, if it may be used this way now: `read` with the caller's purpose, `move` as a
   * user (nothing moves out of a revoked policy). Unknown policy or version: the generic failure.
   */
  readable(ref: EnvelopeRef, purpose: Purpose, use: 'read' | 'move' = 'read'): PolicyRecord {
    this.#opts.fence?.check();
    const policy = this.#opts.registry.get(ref.tenant, ref.policyId);
    if (!policy) throw decryptionFailed();
    if (use !== 'read' || !systemFallbackAllowed(policy, purpose)) this.#requireServing(policy);
    if (ref.keyVersion < policy.minDecryptVersion) {
      throw new UnwrapdError(
        'failed_precondition',
        `key version ${ref.keyVersion} of policy ${policy.tenant}/${policy.id} is retired (minimum ${policy.minDecryptVersion})`,
        {
          reason: 'KEY_VERSION_RETIRED',
          metadata: {
            ...policyMetadata(policy.tenant, policy.id),
            key_version: ref.keyVersion,
            min_decrypt_version: policy.minDecryptVersion,
          },
        },
      );
    }
    if (!policy.versions.some((v) => v.version === ref.keyVersion)) throw decryptionFailed();
    return policy;
  }

  /** The check of `use` of `ref`'s key, as withKey makes it right before the use. */
  check(ref: EnvelopeRef, use: KeyUse, purpose: Purpose): PolicyRecord {
    return use === 'write' ? this.writable(ref.tenant, ref.policyId, ref.keyVersion) : this.readable(ref, purpose, use);
  }

  /**
   * Runs `fn(kek, arg)` with the key of `ref` (tenant, policy, version), synchronously right after the state
   * check, and returns its result. The key must not be kept past `fn` (a stream that needs to stay open
   * registers with hold() inside `fn`). `fn` and `arg` are separate so the cache-hit path allocates nothing.
   */
  async withKey<A, R>(
    ref: EnvelopeRef,
    use: KeyUse,
    req: LeaseRequest,
    fn: (kek: SecretKey, arg: A) => R,
    arg: A,
  ): Promise<R> {
    // The hot path: a cached key of a serving policy, checked and used in one synchronous run.
    const policy = this.check(ref, use, req.purpose);
    const hit = this.#opts.cache.peek(ref.tenant, ref.policyId, ref.keyVersion);
    if (hit && isServing(policy) && !this.#opts.gate.isRevoking(policy.tenant, policy.id)) return fn(hit.kek, arg);
    for (let attempt = 0; ; attempt++) {
      const lease = await this.#acquire(ref, use, req);
      if (lease) {
        try {
          if (!lease.kek.destroyed) {
            this.check(ref, use, req.purpose);
            return fn(lease.kek, arg);
          }
        } finally {
          if (lease.own) lease.kek.destroy();
        }
      }
      if (attempt >= 2) throw keepChanging(ref);
    }
  }

  /** withKey for two keys at once (Rewrap: the source's and the target's), both checked right before `fn`. */
  async withKeys<R>(
    a: EnvelopeRef,
    useA: KeyUse,
    b: EnvelopeRef,
    useB: KeyUse,
    req: LeaseRequest,
    fn: (kekA: SecretKey, kekB: SecretKey) => R,
  ): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      this.check(a, useA, req.purpose);
      this.check(b, useB, req.purpose);
      const from = await this.#acquire(a, useA, req);
      try {
        const to = from && (await this.#acquire(b, useB, req));
        try {
          // Either key may have been replaced (refresh, eviction) while the other was fetched: retake both.
          if (from && to && !from.kek.destroyed && !to.kek.destroyed) {
            this.check(a, useA, req.purpose);
            this.check(b, useB, req.purpose);
            return fn(from.kek, to.kek);
          }
        } finally {
          if (to?.own) to.kek.destroy();
        }
      } finally {
        if (from?.own) from.kek.destroy();
      }
      if (attempt >= 2) throw keepChanging(a);
    }
  }

  /**
   * Registers something open on a policy; returns its release (call it once it ends, however). Call it in the
   * same synchronous run as the check that let it start, so no change of the policy slips in between.
   */
  hold(tenant: string, policyId: string, holder: OpenHolder): () => void {
    const key = policyKey(tenant, policyId);
    let set = this.#open.get(key);
    if (!set) this.#open.set(key, (set = new Set()));
    set.add(holder);
    return () => {
      const current = this.#open.get(key);
      if (!current?.delete(holder)) return;
      if (current.size === 0) this.#open.delete(key);
    };
  }

  /** Holders open now (all policies). */
  get openHolders(): number {
    let n = 0;
    for (const set of this.#open.values()) n += set.size;
    return n;
  }

  /**
   * Ends every holder of a policy at once with FAILED_PRECONDITION: a revocation source outside the registry
   * (the provider said revoked on an unwrap, the status probe, an Event Grid event) saw the customer's key
   * revoked, while the policy's recorded state still says active, so `recheck` would let them go on. System
   * streams end too (fail closed): reopened, they read through the availability key under the rules.
   */
  endPolicy(tenant: string, policyId: string, reason: string): void {
    const set = this.#open.get(policyKey(tenant, policyId));
    if (!set) return;
    const err = new UnwrapdError(
      'failed_precondition',
      `policy ${tenant}/${policyId}: customer key revoked (${reason})`,
      {
        reason: 'CUSTOMER_KEYS_REVOKED',
        metadata: policyMetadata(tenant, policyId),
      },
    );
    this.#open.delete(policyKey(tenant, policyId));
    for (const holder of [...set]) {
      try {
        holder.end(err);
      } catch {
        // a holder's end must not keep the others open
      }
    }
  }

  /** Checks every holder of a policy again and ends those that may not go on (the policy changed). */
  recheck(tenant: string, policyId: string): void {
    const key = policyKey(tenant, policyId);
    const set = this.#open.get(key);
    if (!set) return;
    for (const holder of [...set]) {
      try {
        holder.check();
      } catch (err) {
        set.delete(holder);
        try {
          holder.end(err);
        } catch {
          // a holder's end must not keep the others open
        }
      }
    }
    if (set.size === 0) this.#open.delete(key);
  }

  /**
   * One round of getting a key: from the cache (loaded through the customer keys) while the policy serves;
   * through the availability key for a `system` reader after a revocation (customer key revoked, or the policy
   * revoked meanwhile). Undefined: the key changed during the wait (go round again).
   */
  async #acquire(ref: EnvelopeRef, use: KeyUse, req: LeaseRequest): Promise<Lease | undefined> {
    const policy = this.check(ref, use, req.purpose);
    const version = ref.keyVersion;
    const systemReader = use === 'read' && systemFallbackAllowed(policy, req.purpose);
    if (!isServing(policy) || this.#opts.gate.isRevoking(policy.tenant, policy.id)) {
      // check() passed, so this is a system reader of a revoked mailbox policy.
      return this.#systemLease(policy, version, req, `policy ${policy.state}; system purpose`);
    }
    const hit = this.#opts.cache.peek(policy.tenant, policy.id, version);
    if (hit) return { kek: hit.kek, own: false };
    // Waiting on an unwrap: a revocation (or any change that fails the check) ends the wait at once.
    const stop = new AbortController();
    const release = this.hold(policy.tenant, policy.id, {
      check: () => void this.check(ref, use, req.purpose),
      end: (err) => stop.abort(err),
    });
    try {
      const key = await this.#opts.cache.get(
        policy.tenant,
        policy.id,
        version,
        (s) => this.#opts.unwrapper.load(policy, version, s, req.requestId, req.actor, req.traceId),
        AbortSignal.any([req.signal, stop.signal]),
      );
      return { kek: key.kek, own: false };
    } catch (err) {
      if (err instanceof CustomerKeysError && err.kind === 'revoked') {
        // The provider said revoked: a revocation source. Nothing of this policy stays cached or open.
        this.#opts.cache.evictPolicy(policy.tenant, policy.id);
        this.endPolicy(policy.tenant, policy.id, err.reasons);
        if (systemReader)
          return this.#systemLease(policy, version, req, `customer key revoked (${err.reasons}); system purpose`);
        throw err;
      }
      if (err instanceof StaleLoadError) return undefined;
      throw err;
    } finally {
      release();
    }
  }

  /** The availability key for a `system` reader after a revocation: never cached, audited on every use. */
  async #systemLease(policy: PolicyRecord, version: number, req: LeaseRequest, reason: string): Promise<Lease> {
    const loaded = await this.#opts.unwrapper.loadViaAvailability(policy, version, req.signal, {
      requestId: req.requestId,
      reason,
      ...(req.actor ? { actor: req.actor } : {}),
      ...(req.traceId ? { traceId: req.traceId } : {}),
    });
    return { kek: loaded.kek, own: true };
  }

  /** Registry state, and a revocation this process is writing (the gate). */
  #requireServing(policy: PolicyRecord): void {
    requireUsable(policy);
    if (this.#opts.gate.isRevoking(policy.tenant, policy.id)) throw policyStateError(policy, 'is revoked', 'revoked');
  }
}

/** The Exchange rule after a revocation: `system` callers may still read through the availability key until purge. */
function systemFallbackAllowed(policy: PolicyRecord, purpose: Purpose): boolean {
  return (
    purpose === 'system' && policy.mode === 'mailbox' && policy.state !== 'purged' && policy.state !== 'registering'
  );
}

function keepChanging(ref: EnvelopeRef): UnwrapdError {
  return new UnwrapdError('unavailable', `keys of policy ${ref.tenant}/${ref.policyId} keep changing; retry`, {
    reason: 'POLICY_KEYS_CHANGED',
    metadata: policyMetadata(ref.tenant, ref.policyId),
  });
}
