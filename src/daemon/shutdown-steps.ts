import type { Clock, Timer } from '../clock.js';
import type { Logger } from '../log/logger.js';

/**
 * Shutdown, step by step, so that no step can stop the ones after it: a step that throws is logged and the
 * next one runs; a step that has not settled within its bound is logged and left behind (its late outcome
 * is swallowed), and the next one runs. The whole is bounded too: once `deadlineMs` has passed, the steps
 * left are skipped (logged), except those marked `always`, which run whatever happened before them
 * (zeroizing the key cache: synchronous, so it cannot be slow).
 *
 * Logged: the step's name and the error's name, code and message (src/log/logger.ts), never its content;
 * the daemon's errors carry no key material by rule.
 */
export interface ShutdownStep {
  name: string;
  run(): unknown;
  /** This step's bound; default the runner's `stepTimeoutMs`. */
  timeoutMs?: number;
  /** Runs even past the overall deadline. */
  always?: boolean;
}

export interface ShutdownOutcome {
  /** Steps that threw or rejected. */
  failed: string[];
  /** Steps that had not settled within their bound. */
  timedOut: string[];
  /** Steps not run: the overall deadline had passed. */
  skipped: string[];
}

export interface ShutdownOptions {
  stepTimeoutMs: number;
  /** The bound on the whole run, from its start. */
  deadlineMs: number;
  log: Logger;
  /** What bounds the steps (tests pass a fake one); default the monotonic clock, with timers that hold the process. */
  clock?: Clock;
}

const shutdownClock: Clock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(timer) };
  },
};

export async function runShutdownSteps(
  steps: readonly ShutdownStep[],
  opts: ShutdownOptions,
): Promise<ShutdownOutcome> {
  const outcome: ShutdownOutcome = { failed: [], timedOut: [], skipped: [] };
  const clock = opts.clock ?? shutdownClock;
  const deadline = clock.now() + opts.deadlineMs;
  let outOfTime = false;
  for (const step of steps) {
    const remaining = deadline - clock.now();
    if ((outOfTime || remaining <= 0) && !step.always) {
      outcome.skipped.push(step.name);
      opts.log.warn('shutdown step skipped: the shutdown ran out of time', { step: step.name });
      continue;
    }
    const own = step.timeoutMs ?? opts.stepTimeoutMs;
    const cappedByDeadline = !step.always && remaining < own;
    const bound = cappedByDeadline ? remaining : own;
    const result = await settleWithin(step, bound, clock);
    // A timer may fire a little early by the clock read above: a step cut by the deadline ends the run.
    if (result === 'timeout' && cappedByDeadline) outOfTime = true;
    if (result === 'timeout') {
      outcome.timedOut.push(step.name);
      opts.log.warn('shutdown step did not finish in time; going on without it', {
        step: step.name,
        timeout_ms: Math.round(bound),
      });
    } else if (result !== 'ok') {
      outcome.failed.push(step.name);
      opts.log.error('shutdown step failed; going on', {
        step: step.name,
        error: result.error instanceof Error ? result.error : String(result.error),
      });
    }
  }
  return outcome;
}

/** Runs the step (a synchronous throw counts as a rejection) and waits for it at most `ms`. */
async function settleWithin(
  step: ShutdownStep,
  ms: number,
  clock: Clock,
): Promise<'ok' | 'timeout' | { error: unknown }> {
  let running: Promise<unknown>;
  try {
    running = Promise.resolve(step.run());
  } catch (err) {
    return { error: err };
  }
  let timer: Timer | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimer(() => resolve('timeout'), Math.max(0, Math.ceil(ms)));
  });
  try {
    return await Promise.race([
      running.then(
        () => 'ok' as const,
        (error: unknown) => ({ error }),
      ),
      timeout,
    ]);
  } finally {
    timer?.cancel();
  }
}
