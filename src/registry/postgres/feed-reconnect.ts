import type pg from 'pg';
import type { ChangeFeedOptions } from './feed-options.js';
import { logEnd, setApplied } from './instance-sql.js';

/** The change feed's reconnect timer: jittered exponential backoff between attempts, from min to max. */
export class ReconnectTimer {
  readonly #minMs: number;
  readonly #maxMs: number;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(minMs: number, maxMs: number) {
    this.#minMs = minMs;
    this.#maxMs = maxMs;
    this.#backoffMs = minMs;
  }

  /** Runs `attempt` after the next delay, unless an attempt is already scheduled. */
  schedule(attempt: () => void): void {
    if (this.#timer) return;
    const delay = this.#backoffMs * (0.5 + Math.random() / 2);
    this.#backoffMs = Math.min(this.#maxMs, this.#backoffMs * 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      attempt();
    }, delay);
    this.#timer.unref();
  }

  /** Back to the shortest delay (the connection is up again). */
  reset(): void {
    this.#backoffMs = this.#minMs;
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * On a reconnect, before anything else: when the event log ends before the last event this instance applied
 * (a failover that lost commits), every policy is reloaded and what this instance reports as applied goes down
 * with the log, since sequence numbers will be handed out again. Returns the sequence to continue from, or
 * undefined when the log is intact.
 */
export async function resyncIfLogShrank(
  client: pg.Client,
  q: string,
  opts: Pick<ChangeFeedOptions, 'instanceId' | 'resync' | 'log'>,
  lastSequence: number,
): Promise<number | undefined> {
  const end = await logEnd(client, q);
  if (end >= lastSequence) return undefined;
  opts.log.warn(
    'the event log ends before the last event this instance applied (failover with lost commits?): reloading every policy',
    { log_end: end, last_sequence: lastSequence },
  );
  const sequence = await opts.resync(client);
  await setApplied(client, q, opts.instanceId, sequence);
  return sequence;
}
