import { LatencyRecorder } from './latency-recorder.js';

/** One call of the operation under test, callback style (no promise per call on the client side). */
export type Call = (done: (err: Error | null) => void) => void;

export interface ClosedLoopOptions {
  concurrency: number;
  durationMs: number;
  /** Initial capacity of the latency buffer (it grows if needed). */
  expectedCalls?: number;
}

export interface ClosedLoopResult {
  /** Latency of each successful call in nanoseconds. */
  latenciesNs: Float64Array;
  completed: number;
  errors: number;
  firstError: Error | undefined;
  /** From the first call issued to the last one answered (the tail after the deadline included). */
  elapsedNs: number;
  opsPerSec: number;
}

/**
 * Closed-loop load: `concurrency` workers, each issuing its next call as soon as the previous one returns,
 * until `durationMs` has passed; calls in flight at that moment are awaited and counted. Stops early on
 * the first error (a run with failing calls measures nothing useful).
 */
export function runClosedLoop(call: Call, opts: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { concurrency, durationMs } = opts;
  if (!(concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
  return new Promise((resolve) => {
    const recorder = new LatencyRecorder(opts.expectedCalls);
    let errors = 0;
    let firstError: Error | undefined;
    let active = concurrency;
    const start = process.hrtime.bigint();
    const stopAt = start + BigInt(Math.round(durationMs * 1e6));

    const finish = (end: bigint) => {
      const elapsedNs = Number(end - start);
      resolve({
        latenciesNs: recorder.samples(),
        completed: recorder.count,
        errors,
        firstError,
        elapsedNs,
        opsPerSec: elapsedNs > 0 ? recorder.count / (elapsedNs / 1e9) : 0,
      });
    };

    const issue = () => {
      const t0 = process.hrtime.bigint();
      call((err) => {
        const t1 = process.hrtime.bigint();
        if (err) {
          errors++;
          firstError ??= err;
        } else {
          recorder.record(Number(t1 - t0));
        }
        if (t1 < stopAt && errors === 0) issue();
        else if (--active === 0) finish(t1);
      });
    };
    for (let i = 0; i < concurrency; i++) issue();
  });
}
