/**
 * Time as the daemon's parts see it: what time it is, and a way to be called back later. Production uses
 * the system clock; tests give a clock they advance by hand, so that expiry and refresh are tested without
 * waiting (test/helpers/fake-clock.ts).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` from now (never keeps the process alive). */
  setTimer(fn: () => void, ms: number): Timer;
}

export interface Timer {
  cancel(): void;
}

/** The longest delay a Node timer takes (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};
