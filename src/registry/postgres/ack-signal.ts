/**
 * Counts the fleet's acknowledgement notifications and wakes whoever waits for the next one. A waiter
 * reads `heard` before its check and passes it to `wait`, which closes the race with an acknowledgement
 * that arrives in between.
 */
export class AckSignal {
  readonly #waiters = new Set<() => void>();
  #heard = 0;

  get heard(): number {
    return this.#heard;
  }

  /** An acknowledgement arrived. */
  notify(): void {
    this.#heard++;
    this.wakeAll();
  }

  /** Resolves once an acknowledgement newer than `seen` has arrived, or after `ms`. */
  wait(ms: number, seen = this.#heard): Promise<void> {
    if (this.#heard !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
  }

  /** Wakes every waiter now (the feed stops). */
  wakeAll(): void {
    for (const w of [...this.#waiters]) w();
  }
}
