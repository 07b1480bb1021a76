/**
 * One run of `step` at a time: a call while it runs joins that run and makes it go once more when the
 * current pass ends (so nothing asked for during a pass is missed), until no one asked again or `stopped()`.
 * The change feed reads its log this way: notifications, the poll and reconnects all call `run`.
 */
export class RepeatingRun {
  readonly #step: () => Promise<void>;
  readonly #stopped: () => boolean;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(step: () => Promise<void>, stopped: () => boolean) {
    this.#step = step;
    this.#stopped = stopped;
  }

  /** Makes the current run go once more (a step that finds its work unfinished calls this). */
  again(): void {
    this.#again = true;
  }

  run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = (async () => {
      try {
        do {
          this.#again = false;
          await this.#step();
        } while (this.#again && !this.#stopped());
      } finally {
        this.#running = undefined;
      }
    })();
    this.#running = run;
    return run;
  }
}
