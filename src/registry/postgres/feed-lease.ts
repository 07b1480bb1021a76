/**
 * The instance lease (`lease_expires_at`, set by the database clock), renewed by the change feed's
 * connection every `renewMs`, always right after reading the log, so a live lease means "this instance
 * hears the feed". A renewal only extends a lease that has not expired; one that finds it expired (a writer
 * may have counted this instance out) re-joins: register a fresh lease, read the log, renew, and only then
 * serve again.
 *
 * This class is the lease as this instance sees it, by its own monotonic clock: it fences itself
 * `fenceMarginMs` before the lease runs out, measured from the *send* time of its last successful renewal
 * (the database set the expiry later than that), so it stops serving before any writer can count it out.
 * `fenced()` is checked synchronously before every key use, so a late timer or a blocked event loop cannot
 * stretch the lease. A lost lease, or one re-joined but not yet renewed, has no deadline in hand: fenced.
 */
export interface FeedLeaseOptions {
  leaseMs: number;
  renewMs: number;
  fenceMarginMs: number;
  clock: () => number;
  /** Clock value when the registration (the first lease) was sent. */
  sentAt: number;
  /** The deadline passed without a renewal (for health and the cache: the fence itself is checked synchronously). */
  onLapse(reason: string): void;
}

export class FeedLease {
  readonly #opts: FeedLeaseOptions;
  /** Clock value when the last successful renewal was sent; -Infinity while the lease must be re-joined. */
  #sentAt: number;
  #held = true;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: FeedLeaseOptions) {
    this.#opts = opts;
    this.#sentAt = opts.sentAt;
  }

  get held(): boolean {
    return this.#held;
  }

  /** Why the lease forbids serving now, or undefined. */
  fenced(): string | undefined {
    if (!this.#held) return 'lease lost';
    if (this.#opts.clock() >= this.#deadline()) return 'lease not renewed in time';
    return undefined;
  }

  /** A renewal is due (sent `renewMs` or more after the last one), at clock value `now`. */
  due(now: number): boolean {
    return now - this.#sentAt >= this.#opts.renewMs;
  }

  /** A renewal sent at clock value `sentAt` succeeded. */
  renewed(sentAt: number): void {
    this.#sentAt = sentAt;
    this.#arm();
  }

  /** The database found the lease expired: fenced until re-joined and renewed. */
  lost(): void {
    this.#held = false;
    this.#sentAt = -Infinity;
  }

  /** Registered afresh: held, but still fenced (no deadline in hand) until a renewal succeeds. */
  rejoined(): void {
    this.#sentAt = -Infinity;
    this.#held = true;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #deadline(): number {
    return this.#sentAt + this.#opts.leaseMs - this.#opts.fenceMarginMs;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#opts.clock() >= this.#deadline())
          this.#opts.onLapse(`lease not renewed within ${this.#opts.leaseMs - this.#opts.fenceMarginMs} ms`);
        else this.#arm();
      },
      Math.max(10, this.#deadline() - this.#opts.clock()),
    );
    this.#timer.unref();
  }
}
