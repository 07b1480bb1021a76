import * as grpc from '@grpc/grpc-js';
import { Worker } from 'node:worker_threads';
import { loadProto } from '../../src/rpc/proto.js';
import type { CryptoClient } from '../../src/generated/unwrapd/v1/Crypto.js';
import { rssBytes } from './proc-memory.js';
import { summarizeNs } from './stats.js';

/**
 * The well-behaved caller beside an attack (bench/hostile.ts): `concurrency` closed-loop Decrypts of one
 * 4 KiB envelope on a connection of its own, each call's start time and latency kept, so the p99 of the
 * calls of any window (without attack, during the attack) can be read afterwards. And the
 * daemon's RSS, sampled every 100 ms to find the peak an attack caused.
 */

/** Milliseconds since the epoch, with performance.now()'s resolution: one clock for the main thread and workers. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface ProbeSample {
  startMs: number;
  latencyMs: number;
  ok: boolean;
}

/** A Crypto client on its own connection (not sharing the attacker's). */
export function probeClient(address: string): CryptoClient {
  const { proto } = loadProto();
  return new proto.unwrapd.v1.Crypto(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
}

export class Probe {
  readonly samples: ProbeSample[] = [];
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(
    private readonly client: CryptoClient,
    private readonly request: { tenant: string; envelope: Buffer },
    private readonly concurrency = 2,
    private readonly deadlineMs = 60_000,
  ) {}

  start(): void {
    this.#running = true;
    this.#loops = Array.from({ length: this.concurrency }, () => this.#loop());
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const startMs = wallNow();
      const ok = await new Promise<boolean>((resolve) =>
        this.client.Decrypt(this.request, { deadline: Date.now() + this.deadlineMs }, (err) => resolve(!err)),
      );
      this.samples.push({ startMs, latencyMs: wallNow() - startMs, ok });
    }
  }

  /**
   * The calls that overlapped [fromMs, toMs) (started before its end, answered after its start: a call
   * stalled across the whole attack counts), their p99 and max latency in ms, failures included with the
   * time they took (a probe that timed out waited that long), and how many failed. With `within`, only the
   * calls that started and ended inside it (the baseline: none of them waited for the attack).
   */
  window(fromMs: number, toMs: number, within = false): ProbeWindow {
    return probeWindow(this.samples, fromMs, toMs, within);
  }
}

export interface ProbeWindow {
  count: number;
  p99Ms: number;
  maxMs: number;
  failed: number;
}

/** Probe.window over samples (times from wallNow()). */
export function probeWindow(
  samples: readonly ProbeSample[],
  fromMs: number,
  toMs: number,
  within = false,
): ProbeWindow {
  const inside = samples.filter((s) =>
    within
      ? s.startMs >= fromMs && s.startMs + s.latencyMs < toMs
      : s.startMs < toMs && s.startMs + s.latencyMs >= fromMs,
  );
  const summary = summarizeNs(Float64Array.from(inside, (s) => s.latencyMs * 1e6));
  return {
    count: inside.length,
    p99Ms: summary.p99Us / 1000,
    maxMs: summary.maxUs / 1000,
    failed: inside.filter((s) => !s.ok).length,
  };
}

/**
 * A Probe running in a worker thread (bench/lib/probe-worker.ts), so that what the attacker does on the main
 * thread does not delay the probe's own calls. Times are wallNow(): the main thread's windows compare with them.
 */
export class ProbeThread {
  readonly #worker: Worker;
  #failed: Error | undefined;

  constructor(address: string, request: { tenant: string; envelope: Buffer }, concurrency = 2) {
    // probe-worker-boot.mjs registers tsx in the worker (workers do not inherit `--import=tsx`).
    this.#worker = new Worker(new URL('./probe-worker-boot.mjs', import.meta.url), {
      workerData: { address, request, concurrency },
    });
    this.#worker.on('error', (err) => (this.#failed = err));
  }

  /** Resolves once the probe has made `minCalls` calls over at least `minMs` (connections, JIT, cache settled). */
  warm(minCalls: number, minMs: number): Promise<void> {
    return this.#ask({ type: 'warm', minCalls, minMs }).then(() => undefined);
  }

  /** Stops the probe and returns every sample. */
  async stop(): Promise<ProbeSample[]> {
    const reply = (await this.#ask({ type: 'stop' })) as { samples: ProbeSample[] };
    await this.#worker.terminate();
    return reply.samples;
  }

  #ask(msg: object): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#failed) return reject(this.#failed);
      const onError = (err: Error) => reject(err);
      this.#worker.once('error', onError);
      this.#worker.once('message', (reply: unknown) => {
        this.#worker.off('error', onError);
        resolve(reply);
      });
      this.#worker.postMessage(msg);
    });
  }
}

/** Samples a process's RSS every `intervalMs` and keeps the peak. */
export class RssPeak {
  peak = 0;
  #timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): number {
    const rss = rssBytes(this.pid) ?? 0;
    if (rss > this.peak) this.peak = rss;
    return rss;
  }

  stop(): number {
    clearInterval(this.#timer);
    this.sample();
    return this.peak;
  }
}
