import { errorField, type Logger } from '../log/logger.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { PolicyRecord } from '../registry/policy.js';
import type { KeyCache, LoadedPolicyKey, PolicyKey } from './key-cache.js';

/**
 * What a refresh needs of the key unwrapper (src/core/key-unwrapper.ts implements it). The cache declares it
 * so that it does not depend on the core, which sits above it.
 */
export interface CustomerKeyLoader {
  /** A policy version's wrapping key through the customer keys alone (never the availability key). */
  loadCustomer(policy: PolicyRecord, version: number, signal: AbortSignal): Promise<LoadedPolicyKey>;
  /** The customer keys' reasons when `err` (thrown by loadCustomer) says they refused; otherwise undefined. */
  refusalReasons(err: unknown): string | undefined;
}

export interface RefreshAheadOptions {
  cache: KeyCache;
  registry: PolicyRegistry;
  unwrapper: CustomerKeyLoader;
  log: Logger;
  /** Refresh a key when it has less than this long left. */
  refreshAheadMs: number;
  /** How often to look. */
  intervalMs: number;
  providerTimeoutMs: number;
  now?: () => number;
}

/**
 * Re-unwraps cached keys through the customer keys before they expire, so steady traffic never waits on a
 * provider. A refresh that gets *revoked* evicts the policy at once (the provider is a revocation source);
 * one that gets *unavailable* keeps the key until its hard expiry and is counted and logged.
 */
export class RefreshAhead {
  readonly #opts: RefreshAheadOptions;
  readonly #now: () => number;
  readonly #inProgress = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #refreshed = 0;
  #revoked = 0;

  constructor(opts: RefreshAheadOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  get stats() {
    return { refreshed: this.#refreshed, failures: this.#failures, revoked: this.#revoked };
  }

  start(): void {
    this.#timer = setInterval(() => void this.runOnce(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One pass: refreshes every key due, concurrently; resolves when they are all done. */
  async runOnce(): Promise<void> {
    const due = this.#opts.cache.entries().filter((e) => e.expiresAt - this.#now() <= this.#opts.refreshAheadMs);
    await Promise.all(due.map((e) => this.#refresh(e)));
  }

  async #refresh(entry: PolicyKey): Promise<void> {
    const id = `${entry.tenant}/${entry.policyId}/${entry.version}`;
    if (this.#inProgress.has(id)) return;
    this.#inProgress.add(id);
    const { cache, registry, unwrapper, log } = this.#opts;
    try {
      const policy = registry.get(entry.tenant, entry.policyId);
      if (!policy || (policy.state !== 'active' && policy.state !== 'rolling')) {
        cache.evictPolicy(entry.tenant, entry.policyId);
        return;
      }
      const generation = cache.generation(entry.tenant, entry.policyId);
      const loaded = await unwrapper.loadCustomer(
        policy,
        entry.version,
        AbortSignal.timeout(this.#opts.providerTimeoutMs),
      );
      if (cache.replace(loaded, generation)) this.#refreshed++;
    } catch (err) {
      const reasons = unwrapper.refusalReasons(err);
      if (reasons !== undefined) {
        this.#revoked++;
        cache.evictPolicy(entry.tenant, entry.policyId);
        log.warn('refresh found customer keys revoked: policy evicted', {
          tenant: entry.tenant,
          policy: entry.policyId,
          version: entry.version,
          reasons,
        });
      } else {
        this.#failures++;
        log.warn('refresh failed: key kept until its hard expiry', {
          tenant: entry.tenant,
          policy: entry.policyId,
          version: entry.version,
          error: errorField(err),
        });
      }
    } finally {
      this.#inProgress.delete(id);
    }
  }
}
