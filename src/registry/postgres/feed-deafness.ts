import { loggableError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';

/**
 * Deafness: when the change feed's connection is lost, or silent, for longer than `graceMs`, or the lease
 * lapses, the feed declares itself deaf (the daemon refuses every request, or with `deafServeUncached` turns
 * the key cache off). It comes back only once it has reconnected, applied every event it missed, in order,
 * and renewed its lease. This holds whether it is deaf, why, and who is told when that changes (a listener
 * that throws is logged and does not stop the others).
 */
export class FeedDeafness {
  readonly #log: Logger;
  readonly #listeners = new Set<(deaf: boolean) => void>();
  #deaf = false;
  #reason = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  get deaf(): boolean {
    return this.#deaf;
  }

  get reason(): string {
    return this.#reason;
  }

  onChange(listener: (deaf: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs `onDue` after `delayMs` (it decides whether the feed is still cut off), unless deaf or armed already. */
  arm(delayMs: number, onDue: () => void): void {
    if (this.#deaf || this.#timer) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        onDue();
      },
      Math.max(0, delayMs),
    );
    this.#timer.unref();
  }

  disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  enter(reason: string, details: Record<string, number>): void {
    if (this.#deaf) return;
    this.#deaf = true;
    this.#reason = reason;
    this.#log.warn(
      'revocation feed lost: this instance is fenced until the feed is back, caught up and its lease renewed',
      { reason, ...details },
    );
    this.#emit(true);
  }

  lift(details: Record<string, number>): void {
    if (!this.#deaf) return;
    this.#deaf = false;
    this.#reason = '';
    this.#log.info('revocation feed back, caught up and lease renewed: serving again', details);
    this.#emit(false);
  }

  #emit(deaf: boolean): void {
    for (const l of this.#listeners) {
      try {
        l(deaf);
      } catch (err) {
        this.#log.error('a feed-state listener threw', { error: loggableError(err) });
      }
    }
  }
}

/**
 * When the feed last heard the database: the send time of the last round trip that succeeded (being cut off
 * is measured from it) and the arrival of the last answer (silence, a black-holed connection, is measured
 * from it, so a connection that answers slowly on a saturated host is kept).
 */
export class FeedHearing {
  #lastHeard = performance.now();
  #lastAnswer = performance.now();

  /** A round trip sent at `sentAt` (performance.now()) was answered. */
  heard(sentAt: number): void {
    if (sentAt > this.#lastHeard) this.#lastHeard = sentAt;
    this.#lastAnswer = performance.now();
  }

  /** Milliseconds left of `graceMs` since the last successful round trip was sent (negative once past). */
  cutOffLeft(graceMs: number): number {
    return this.#lastHeard + graceMs - performance.now();
  }

  /** Whether no answer has arrived for more than `graceMs`. */
  silentPast(graceMs: number): boolean {
    return performance.now() - this.#lastAnswer > graceMs;
  }
}
