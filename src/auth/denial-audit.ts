/**
 * Rate-limited auditing of access denials: per identity a token bucket of `perMinute` records (refilled
 * continuously); denials beyond it are counted, not written, and the next record written for that identity
 * (or `flush()`, at shutdown) first says how many were suppressed. So a flood of denials grows the audit log
 * by at most about `perMinute` records a minute per identity, plus one summary, and the identities tracked are
 * bounded too (beyond `maxIdentities` new identities share one bucket).
 */
export interface Denial {
  identity: string;
  method: string;
  /** The missing grant, as the denial message names it. */
  missing: string;
  tenant: string;
  policyId: string;
  /** The refused request's id and trace id (a suppressed-repeats summary carries the last one's). */
  requestId?: string;
  traceId?: string;
}

export interface DenialAuditOptions {
  perMinute: number;
  write: (record: Denial & { suppressed?: number }) => void;
  now?: () => number;
  maxIdentities?: number;
}

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
  last?: Denial;
}

const OVERFLOW = '(other identities)';

export class DenialAudit {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #max: number;
  /** Denials seen, written or not. */
  denied = 0;
  /** Denials counted but not written. */
  suppressed = 0;

  constructor(private readonly opts: DenialAuditOptions) {
    this.#now = opts.now ?? Date.now;
    this.#max = opts.maxIdentities ?? 1000;
  }

  record(d: Denial): void {
    this.denied++;
    const now = this.#now();
    // A plaintext TCP caller's identity carries its ephemeral port: one bucket per address, not per connection.
    const who = d.identity.startsWith('tcp:') ? d.identity.replace(/:\d+$/, '') : d.identity;
    const key = this.#buckets.has(who) || this.#buckets.size < this.#max ? who : OVERFLOW;
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: this.opts.perMinute, at: now, suppressed: 0 };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(this.opts.perMinute, b.tokens + ((now - b.at) * this.opts.perMinute) / 60_000);
    b.at = now;
    if (b.tokens < 1) {
      b.suppressed++;
      b.last = d;
      this.suppressed++;
      return;
    }
    b.tokens -= 1;
    this.#summarize(b);
    this.opts.write(d);
  }

  /** Writes the pending "N suppressed" summaries (at shutdown). */
  flush(): void {
    for (const b of this.#buckets.values()) this.#summarize(b);
  }

  #summarize(b: Bucket): void {
    if (b.suppressed === 0 || !b.last) return;
    this.opts.write({ ...b.last, suppressed: b.suppressed });
    b.suppressed = 0;
    b.last = undefined;
  }
}
