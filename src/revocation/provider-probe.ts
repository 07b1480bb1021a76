import { systemClock, type Clock, type Timer } from '../clock.js';
import { loggableError } from '../errors.js';
import type { PolicyKey } from '../cache/key-cache.js';
import type { Logger } from '../log/logger.js';
import type { KeyStatus, RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRecord } from '../registry/policy.js';
import { customerKeyDependents } from './cached-key-dependents.js';
import type { RevocationEvent, RevocationSource, RevocationSourceState } from './revocation-source.js';

/**
 * Detection of revocation at the vault: every `intervalMs` (jittered), ask the provider for the status of
 * the customer keys that the cached policy versions depend on, and report every policy whose key is
 * `revoked` (disabled, deleted, access removed); the daemon evicts it. A key that is merely `unavailable`
 * evicts nothing (that is not a revocation, and the cache is what keeps serving through an outage).
 *
 * Rate limit: at most `maxCallsPerInterval` status calls a round, `concurrency` at a time. Keys are
 * deduplicated (policies sharing a customer key cost one call) and, when there are more keys than the
 * limit, taken round-robin across rounds, so each is probed at least every ceil(keys / limit) intervals.
 * Only policies with keys in the cache are probed: an idle instance costs nothing.
 *
 * Cost, per instance: min(K, maxCallsPerInterval) x 3,600,000 / intervalMs status calls an hour, K being
 * the distinct customer keys of cached policies. For Azure Key Vault a status call is one GET of the key
 * (permission `get`; one extra 401 round trip the first time per vault). Defaults (60 s, 100): at most
 * 6,000 GETs an hour; 2 keys: 120 an hour. docs/providers.md has the table.
 */
export interface ProviderProbeOptions {
  cache: { entries(): PolicyKey[] };
  registry: { get(tenant: string, id: string): PolicyRecord | undefined };
  provider: Pick<RootKeyProvider, 'status'>;
  /** Time between rounds; 0 turns the probe off. */
  intervalMs: number;
  maxCallsPerInterval: number;
  /** Bound on one status call. */
  callTimeoutMs: number;
  /** Status calls in flight at once (default 4). */
  concurrency?: number;
  /** Each delay is intervalMs x (1 +- jitter) (default 0.2). */
  jitter?: number;
  log?: Logger;
  random?: () => number;
  /** What schedules the rounds (default: the system clock). */
  clock?: Clock;
}

export interface ProbeRound {
  /** Key URIs asked this round. */
  checked: string[];
  /** Policies reported revoked this round. */
  revoked: RevocationEvent[];
  /** Keys whose status could not be had (unavailable, or the call failed). */
  unavailable: string[];
}

export const PROBE_SOURCE = 'provider-probe';

export class ProviderProbe implements RevocationSource {
  readonly name = PROBE_SOURCE;
  readonly #opts: ProviderProbeOptions;
  readonly #random: () => number;
  #onRevoked: ((event: RevocationEvent) => void) | undefined;
  readonly #clock: Clock;
  #timer: Timer | undefined;
  #running: Promise<ProbeRound> | undefined;
  #controller = new AbortController();
  #cursor = 0;
  #rounds = 0;
  #calls = 0;
  #lastEventAt: string | undefined;
  #stopped = false;

  constructor(opts: ProviderProbeOptions) {
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Status calls made since start (for tests and metrics). */
  get calls(): number {
    return this.#calls;
  }

  async start(onRevoked: (event: RevocationEvent) => void): Promise<void> {
    this.#onRevoked = onRevoked;
    this.#stopped = false;
    this.#schedule();
  }

  state(): RevocationSourceState {
    if (this.#opts.intervalMs <= 0) return { state: 'none', lastSequence: this.#rounds };
    return {
      state: this.#stopped ? 'disconnected' : 'connected',
      lastSequence: this.#rounds,
      ...(this.#lastEventAt ? { lastEventAt: this.#lastEventAt } : {}),
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#controller.abort(new Error('probe stopped'));
    await this.#running?.catch(() => undefined);
  }

  /** One round now (the timer calls this; tests call it directly). Rounds never overlap. */
  runOnce(): Promise<ProbeRound> {
    this.#running ??= this.#round().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #schedule(): void {
    if (this.#stopped || this.#opts.intervalMs <= 0) return;
    const jitter = this.#opts.jitter ?? 0.2;
    const delay = Math.max(1, Math.round(this.#opts.intervalMs * (1 + jitter * (2 * this.#random() - 1))));
    this.#timer = this.#clock.setTimer(() => {
      this.runOnce()
        .catch((err: unknown) => this.#opts.log?.warn('key probe round failed', { error: loggableError(err) }))
        .finally(() => this.#schedule());
    }, delay);
  }

  async #round(): Promise<ProbeRound> {
    const dependents = customerKeyDependents(this.#opts.cache.entries(), this.#opts.registry);
    const keys = [...dependents.keys()].sort();
    const limit = Math.max(0, this.#opts.maxCallsPerInterval);
    let chosen: string[];
    if (keys.length <= limit) chosen = keys;
    else {
      const start = this.#cursor % keys.length;
      chosen = [...keys.slice(start), ...keys.slice(0, start)].slice(0, limit);
      this.#cursor = start + limit;
    }
    const round: ProbeRound = { checked: chosen, revoked: [], unavailable: [] };
    const queue = [...chosen];
    const worker = async (): Promise<void> => {
      for (let uri = queue.shift(); uri !== undefined && !this.#stopped; uri = queue.shift()) {
        const status = await this.#status(uri);
        if (!status || status.usable) {
          if (!status) round.unavailable.push(uri);
          continue;
        }
        if (status.kind !== 'revoked') {
          round.unavailable.push(uri);
          continue;
        }
        for (const p of dependents.get(uri) ?? []) {
          const event: RevocationEvent = {
            tenant: p.tenant,
            policyId: p.policyId,
            reason: `${status.reason ?? 'revoked'}: ${uri}`,
            source: PROBE_SOURCE,
          };
          round.revoked.push(event);
          this.#lastEventAt = new Date().toISOString();
          this.#opts.log?.warn('key probe: customer key revoked at the provider', {
            tenant: p.tenant,
            policy: p.policyId,
            key_uri: uri,
            reason: status.reason,
          });
          this.#onRevoked?.(event);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#opts.concurrency ?? 4, chosen.length) }, worker));
    this.#rounds++;
    return round;
  }

  async #status(uri: string): Promise<KeyStatus | undefined> {
    this.#calls++;
    try {
      return await this.#opts.provider.status(uri, {
        signal: AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#opts.callTimeoutMs)]),
      });
    } catch {
      return undefined; // aborted or timed out: no answer is not a revocation
    }
  }
}
