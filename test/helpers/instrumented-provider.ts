import { setTimeout as sleep } from 'node:timers/promises';
import type { SecretKey } from '../../src/crypto/secret-key.js';
import { providerError, type ProviderError } from '../../src/providers/provider-error.js';
import type {
  CallOptions,
  DestructionConfirmation,
  KeyStatus,
  ResolvedKey,
  RootKeyProvider,
  WrappedKey,
} from '../../src/providers/root-key-provider.js';

/**
 * A RootKeyProvider wrapper for tests and benchmarks: counts calls per operation, adds latency that
 * honours the caller's abort signal, and injects failures. Each call is counted when it starts (whether it
 * then succeeds, fails or is aborted), waits `latencyMs`, asks `fail`, and only then reaches the inner
 * provider. `latencyMs` and `fail` may be changed between calls. `callStarted(op)` announces the next call
 * of an operation as it starts, so a test waits for the call instead of sleeping and hoping it began.
 */
export type ProviderOp = 'resolve' | 'wrap' | 'unwrap' | 'status' | 'createKey' | 'destroyKey';

export type FailureInjector = (op: ProviderOp, keyUri: string) => ProviderError | undefined;

/** Latency for one call; undefined falls back to `latencyMs`. */
export type LatencyInjector = (op: ProviderOp, keyUri: string) => number | undefined;

export interface InstrumentOptions {
  latencyMs?: number;
  latencyFor?: LatencyInjector;
  fail?: FailureInjector;
}

export interface InstrumentedProvider extends RootKeyProvider {
  /** Calls started per operation (live counters). */
  readonly counts: Record<ProviderOp, number>;
  /** Calls aborted by their caller during injected latency. */
  readonly aborted: Record<ProviderOp, number>;
  latencyMs: number;
  latencyFor: LatencyInjector | undefined;
  fail: FailureInjector | undefined;
  resetCounts(): void;
  /**
   * Resolves when the next call of `op` (on a key whose URI passes `matches`, if given) starts: counted,
   * before its injected latency.
   */
  callStarted(op: ProviderOp, matches?: (keyUri: string) => boolean): Promise<{ keyUri: string }>;
  /**
   * Holds every call of `op` that starts from now on (after it is counted and announced) until the returned
   * release is called, or the caller aborts, or the provider closes: a window of the test's choosing, not of
   * the clock's. With `onlyNext`, only the next call of `op` is held; later ones run. Release is idempotent.
   */
  holdCalls(op: ProviderOp, onlyNext?: boolean): () => void;
}

export function instrumentProvider(inner: RootKeyProvider, opts: InstrumentOptions = {}): InstrumentedProvider {
  const counts: Record<ProviderOp, number> = { resolve: 0, wrap: 0, unwrap: 0, status: 0, createKey: 0, destroyKey: 0 };
  const aborted: Record<ProviderOp, number> = {
    resolve: 0,
    wrap: 0,
    unwrap: 0,
    status: 0,
    createKey: 0,
    destroyKey: 0,
  };

  const waiters = new Set<{
    op: ProviderOp;
    matches: (keyUri: string) => boolean;
    resolve: (v: { keyUri: string }) => void;
  }>();

  // Closing the provider (daemon shutdown) ends injected latency, as closing a real one ends its calls.
  const closed = new AbortController();
  const holds = new Map<ProviderOp, Promise<void>>();
  const onlyNextHolds = new WeakSet<Promise<void>>();

  async function held(op: ProviderOp, keyUri: string, signal: AbortSignal): Promise<void> {
    const gate = holds.get(op);
    if (!gate) return;
    if (onlyNextHolds.has(gate)) holds.delete(op);
    const stop = AbortSignal.any([signal, closed.signal]);
    if (stop.aborted) throw abortedIn(op, keyUri);
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        gate,
        new Promise<never>((_, reject) =>
          stop.addEventListener('abort', (onAbort = () => reject(abortedIn(op, keyUri)))),
        ),
      ]);
    } finally {
      if (onAbort) stop.removeEventListener('abort', onAbort);
    }
  }

  function abortedIn(op: ProviderOp, keyUri: string): ProviderError {
    aborted[op]++;
    return providerError(
      'aborted',
      keyUri,
      `${keyUri}: ${op} aborted by the caller (or the provider closed) while held`,
    );
  }

  async function before(op: ProviderOp, keyUri: string, signal: AbortSignal): Promise<void> {
    counts[op]++;
    for (const w of waiters) {
      if (w.op === op && w.matches(keyUri)) {
        waiters.delete(w);
        w.resolve({ keyUri });
      }
    }
    await held(op, keyUri, signal);
    const latency = self.latencyFor?.(op, keyUri) ?? self.latencyMs;
    if (latency > 0) {
      try {
        await sleep(latency, undefined, { signal: AbortSignal.any([signal, closed.signal]) });
      } catch {
        aborted[op]++;
        throw providerError(
          'aborted',
          keyUri,
          `${keyUri}: ${op} aborted by the caller (or the provider closed) during injected latency`,
        );
      }
    }
    const injected = self.fail?.(op, keyUri);
    if (injected) throw injected;
  }

  const self: InstrumentedProvider = {
    schemes: inner.schemes,
    counts,
    aborted,
    latencyMs: opts.latencyMs ?? 0,
    latencyFor: opts.latencyFor,
    fail: opts.fail,
    resetCounts() {
      for (const op of Object.keys(counts) as ProviderOp[]) {
        counts[op] = 0;
        aborted[op] = 0;
      }
    },
    callStarted(op, matches = () => true) {
      return new Promise((resolve) => waiters.add({ op, matches, resolve }));
    },
    holdCalls(op, onlyNext = false) {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      holds.set(op, gate);
      if (onlyNext) onlyNextHolds.add(gate);
      return () => {
        if (holds.get(op) === gate) holds.delete(op);
        release();
      };
    },
    async resolve(keyUri: string, callOpts: CallOptions): Promise<ResolvedKey> {
      await before('resolve', keyUri, callOpts.signal);
      return inner.resolve(keyUri, callOpts);
    },
    async wrap(keyUri: string, key: SecretKey, callOpts: CallOptions): Promise<WrappedKey> {
      await before('wrap', keyUri, callOpts.signal);
      return inner.wrap(keyUri, key, callOpts);
    },
    async unwrap(wrapped: WrappedKey, callOpts: CallOptions): Promise<SecretKey> {
      await before('unwrap', wrapped.keyUri, callOpts.signal);
      return inner.unwrap(wrapped, callOpts);
    },
    async status(keyUri: string, callOpts: CallOptions): Promise<KeyStatus> {
      await before('status', keyUri, callOpts.signal);
      return inner.status(keyUri, callOpts);
    },
    async createKey(baseUri: string, nameHint: string, callOpts: CallOptions): Promise<ResolvedKey> {
      await before('createKey', baseUri, callOpts.signal);
      if (!inner.createKey) throw providerError('unknown', baseUri, `${baseUri}: the provider cannot create keys`);
      return inner.createKey(baseUri, nameHint, callOpts);
    },
    async destroyKey(keyUri: string, callOpts: CallOptions): Promise<DestructionConfirmation> {
      await before('destroyKey', keyUri, callOpts.signal);
      if (!inner.destroyKey) throw providerError('unknown', keyUri, `${keyUri}: the provider cannot destroy keys`);
      return inner.destroyKey(keyUri, callOpts);
    },
    close(): Promise<void> {
      closed.abort();
      return inner.close();
    },
  };
  return self;
}
