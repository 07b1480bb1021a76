import { LRUCache } from 'lru-cache';
import { systemClock, type Clock, type Timer } from '../clock.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { UnwrapdError } from '../errors.js';
import { raceAbort } from '../race-abort.js';
import { noopTelemetry, type EvictionReason, type Telemetry } from '../telemetry/telemetry.js';

/**
 * The key a policy version works with, as cached. It is the wrapping key derived from the intermediate key
 * (the intermediate key itself is destroyed right after the derivation), so the cache holds exactly one
 * secret per (tenant, policy, version) and nothing that could unwrap another policy's data.
 */
export interface PolicyKey {
  tenant: string;
  policyId: string;
  version: number;
  kek: SecretKey;
  /** Which root key unwrapped it ("customer-a", "customer-b", "availability"). */
  sourceRole: string;
  /** Fingerprint of the wrapped copy it came from: an identifier, never key bytes. */
  keyId: string;
  loadedAt: number;
  expiresAt: number;
}

/** A key as a loader makes it, before the cache stamps its times. */
export type LoadedPolicyKey = Omit<PolicyKey, 'loadedAt' | 'expiresAt'>;

export type PolicyKeyLoader = (signal: AbortSignal) => Promise<LoadedPolicyKey>;

export interface KeyCacheOptions {
  maxEntries: number;
  /** Hard maximum age of a cached key. */
  maxAgeMs: number;
  /** Expiry is read from and scheduled on this clock (default: the system clock). */
  clock?: Clock;
  /** Evictions by reason, and a span around a miss's load (default: none). */
  telemetry?: Pick<Telemetry, 'cacheEviction' | 'span'>;
}

export interface KeyCacheStats {
  entries: number;
  maxEntries: number;
  hits: number;
  misses: number;
  loads: number;
}

/** Thrown to waiters when the policy was evicted while its key was loading; the caller re-checks state. */
export class StaleLoadError extends UnwrapdError {
  constructor() {
    super('unavailable', 'policy keys were evicted while loading');
  }
}

/**
 * The intermediate-key cache: an LRU bounded in size and age, single flight on a miss, and a per-policy
 * generation so that eviction also invalidates loads that were in flight when it happened. Every way a key
 * leaves (eviction, expiry, overwrite, clear) goes through the LRU's dispose, which zeroizes it.
 *
 * Age is the cache's own business, on the clock it is given (not a timer of the LRU's): each entry has a
 * timer for its expiry that deletes it (so it is zeroized on time, not when next touched), and a read
 * checks the expiry too, so a key is never served past its age even if its timer runs late.
 */
export class KeyCache {
  readonly #lru: LRUCache<string, PolicyKey>;
  readonly #inflight = new Map<string, { generation: number; promise: Promise<PolicyKey> }>();
  readonly #generations = new Map<string, number>();
  readonly #opts: KeyCacheOptions;
  readonly #clock: Clock;
  readonly #expiryTimers = new Map<PolicyKey, Timer>();
  #hits = 0;
  #misses = 0;
  #loads = 0;
  #bypass = false;
  readonly #telemetry: Pick<Telemetry, 'cacheEviction' | 'span'>;
  /** Why the deletes under way delete (an LRU `delete` does not say). */
  #deleting: EvictionReason = 'cleared';

  constructor(opts: KeyCacheOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#telemetry = opts.telemetry ?? noopTelemetry;
    this.#lru = new LRUCache<string, PolicyKey>({
      max: opts.maxEntries,
      dispose: (value, _key, reason) => {
        this.#telemetry.cacheEviction(reason === 'evict' ? 'capacity' : reason === 'set' ? 'replaced' : this.#deleting);
        this.#expiryTimers.get(value)?.cancel();
        this.#expiryTimers.delete(value);
        value.kek.destroy();
      },
    });
  }

  /** Stores an entry and arms its expiry. */
  #store(key: string, entry: PolicyKey): void {
    this.#lru.set(key, entry);
    this.#armExpiry(key, entry);
  }

  #armExpiry(key: string, entry: PolicyKey): void {
    const timer = this.#clock.setTimer(() => {
      this.#expiryTimers.delete(entry);
      if (this.#lru.peek(key) !== entry) return;
      // A timer may fire early (long delays are capped): re-arm until the entry is really due.
      if (entry.expiresAt > this.#clock.now()) this.#armExpiry(key, entry);
      else this.#delete(key, 'expired');
    }, entry.expiresAt - this.#clock.now());
    this.#expiryTimers.set(entry, timer);
  }

  /**
   * Fail closed when deaf: while bypassed, the cache holds nothing (it is cleared on entry) and every load
   * serves only the callers that shared it; keys are not kept. Used when the revocation feed is lost for
   * longer than its grace period.
   */
  setBypass(on: boolean): void {
    if (on && !this.#bypass) {
      this.#bypass = true;
      this.clear();
    } else if (!on) {
      this.#bypass = false;
    }
  }

  get bypassed(): boolean {
    return this.#bypass;
  }

  /** A cached, unexpired key, or undefined. Synchronous: the hot path. */
  peek(tenant: string, policyId: string, version: number): PolicyKey | undefined {
    const entry = this.#lru.get(cacheKey(tenant, policyId, version));
    if (entry && entry.expiresAt > this.#clock.now() && !entry.kek.destroyed) {
      this.#hits++;
      return entry;
    }
    return undefined;
  }

  /**
   * The cached key, or one loaded by `loader`. Concurrent misses for the same key share one load. A load
   * that finishes after the policy was evicted is destroyed, not cached, and its waiters get StaleLoadError.
   */
  async get(
    tenant: string,
    policyId: string,
    version: number,
    loader: PolicyKeyLoader,
    signal: AbortSignal,
  ): Promise<PolicyKey> {
    const hit = this.peek(tenant, policyId, version);
    if (hit) return hit;
    this.#misses++;
    const key = cacheKey(tenant, policyId, version);
    const pKey = policyKeyOf(tenant, policyId);
    const generation = this.#generations.get(pKey) ?? 0;
    let flight = this.#inflight.get(key);
    if (!flight || flight.generation !== generation) {
      flight = { generation, promise: this.#load(key, pKey, generation, loader) };
      this.#inflight.set(key, flight);
    }
    // A caller that gives up stops waiting; the shared load goes on for the others (its value is theirs).
    return raceAbort(flight.promise, signal, () => signal.reason as Error);
  }

  async #load(key: string, pKey: string, generation: number, loader: PolicyKeyLoader): Promise<PolicyKey> {
    this.#loads++;
    // The shared load is not tied to one caller's signal: a caller that gives up must not fail the others.
    // The loader bounds its own time (provider deadlines).
    const controller = new AbortController();
    try {
      const loaded = await this.#telemetry.span('cache miss: unwrap', () => loader(controller.signal));
      if ((this.#generations.get(pKey) ?? 0) !== generation) {
        loaded.kek.destroy();
        throw new StaleLoadError();
      }
      const now = this.#clock.now();
      const entry: PolicyKey = { ...loaded, loadedAt: now, expiresAt: now + this.#opts.maxAgeMs };
      if (this.#bypass) {
        // Not cached: the waiters of this load use it, then it is zeroized once they had their turn.
        setImmediate(() => entry.kek.destroy());
        return entry;
      }
      this.#store(key, entry);
      return entry;
    } finally {
      const current = this.#inflight.get(key);
      if (current?.generation === generation) this.#inflight.delete(key);
    }
  }

  /** The policy's eviction generation: a value read before a background load, given back to `replace`. */
  generation(tenant: string, policyId: string): number {
    return this.#generations.get(policyKeyOf(tenant, policyId)) ?? 0;
  }

  /**
   * Stores a key loaded in the background (refresh ahead) in place of the current one, which is zeroized,
   * unless the policy was evicted since `generation` was read: then the new key is destroyed instead.
   */
  replace(loaded: LoadedPolicyKey, generation: number): boolean {
    if (this.#bypass || this.generation(loaded.tenant, loaded.policyId) !== generation) {
      loaded.kek.destroy();
      return false;
    }
    const now = this.#clock.now();
    this.#store(cacheKey(loaded.tenant, loaded.policyId, loaded.version), {
      ...loaded,
      loadedAt: now,
      expiresAt: now + this.#opts.maxAgeMs,
    });
    return true;
  }

  /** Removes and zeroizes every cached key of a policy, and invalidates its in-flight loads. */
  evictPolicy(tenant: string, policyId: string): number {
    const pKey = policyKeyOf(tenant, policyId);
    this.#generations.set(pKey, (this.#generations.get(pKey) ?? 0) + 1);
    const prefix = `${pKey}\u0000`;
    let evicted = 0;
    for (const key of [...this.#lru.keys()]) {
      if (key.startsWith(prefix)) {
        this.#delete(key, 'policy');
        evicted++;
      }
    }
    return evicted;
  }

  /** Removes and zeroizes every cached key of every policy of a tenant. */
  evictTenant(tenant: string): number {
    let evicted = 0;
    const policies = new Set<string>();
    for (const entry of this.#lru.values()) if (entry.tenant === tenant) policies.add(entry.policyId);
    for (const key of this.#inflight.keys()) {
      const [t, p] = key.split('\u0000');
      if (t === tenant && p !== undefined) policies.add(p);
    }
    for (const policyId of policies) evicted += this.evictPolicy(tenant, policyId);
    return evicted;
  }

  /** Removes and zeroizes everything, and invalidates every in-flight load. */
  clear(): number {
    const entries = this.#lru.size;
    const policies = new Set<string>();
    for (const key of [...this.#lru.keys(), ...this.#inflight.keys()]) {
      const [t, p] = key.split('\u0000');
      if (t !== undefined && p !== undefined) policies.add(policyKeyOf(t, p));
    }
    for (const pKey of policies) this.#generations.set(pKey, (this.#generations.get(pKey) ?? 0) + 1);
    this.#lru.clear();
    return entries;
  }

  #delete(key: string, reason: EvictionReason): void {
    this.#deleting = reason;
    try {
      this.#lru.delete(key);
    } finally {
      this.#deleting = 'cleared';
    }
  }

  entries(): PolicyKey[] {
    return [...this.#lru.values()];
  }

  stats(): KeyCacheStats {
    return {
      entries: this.#lru.size,
      maxEntries: this.#opts.maxEntries,
      hits: this.#hits,
      misses: this.#misses,
      loads: this.#loads,
    };
  }
}

function policyKeyOf(tenant: string, policyId: string): string {
  return `${tenant}\u0000${policyId}`;
}

function cacheKey(tenant: string, policyId: string, version: number): string {
  return `${tenant}\u0000${policyId}\u0000${version}`;
}
