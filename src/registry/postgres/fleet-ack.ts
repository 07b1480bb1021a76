import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { UnwrapdError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { pgMessage } from './pg-text.js';

/**
 * The fleet acknowledgement of a restricting change (revoke, purge, a retired key version): wait until
 * every other instance whose lease has not expired (database clock) has applied it. An instance whose lease
 * expired has fenced itself before (its own clock, with a margin), so it is counted out. docs/fleet.md.
 */
export interface FleetAck {
  sequence: number;
  /** Instances that were live and had not applied the event when the wait ended (empty when it held). */
  laggards: string[];
  /** Instances that had not applied it but whose lease had expired (they fenced themselves). */
  expired: string[];
  waitedMs: number;
}

/** A restricting change that is durable and in force, but not confirmed by every live instance in time. */
export class FleetUnconfirmedError extends UnwrapdError {
  readonly ack: FleetAck;
  constructor(code: 'unavailable' | 'deadline_exceeded', ack: FleetAck) {
    super(
      code,
      `the change is durable and in force on this instance (event ${ack.sequence}), but not confirmed by the fleet: ` +
        `${ack.laggards.join(', ')} has not applied it and its lease has not expired; retry to wait again`,
    );
    this.name = 'FleetUnconfirmedError';
    this.ack = ack;
  }
}

/** What the wait needs of the registry and its change feed. */
export interface FleetAckContext {
  pool: pg.Pool;
  /** The quoted schema. */
  q: string;
  instanceId: string;
  leaseMs: number;
  /** The feed's grace and poll: the liveness window of an instance row without a lease (written before leases). */
  graceMs: number;
  pollMs: number;
  /** The feed, when open: its acknowledgement notifications wake the wait (otherwise it polls). */
  feed: { acksHeard: number; listening: boolean; waitForAck(ms: number, seen: number): Promise<void> } | undefined;
  closed(): boolean;
  log: Logger;
}

/**
 * Resolves once every other live instance has applied `sequence`. Woken by the acknowledgements' NOTIFY,
 * with a poll as the safety net. Bounded by `signal` and by twice the lease: then it throws
 * FleetUnconfirmedError (the change stays durable and in force).
 *
 * Each check touches the rows it judges (an UPDATE that changes nothing), so a renewal racing the check
 * re-evaluates its "lease not expired" condition after it: a lease this check saw expired cannot be
 * renewed by a statement that began before it (the instance re-joins and catches up instead).
 */
export async function awaitFleetAck(ctx: FleetAckContext, sequence: number, signal?: AbortSignal): Promise<FleetAck> {
  const started = performance.now();
  const deadline = started + 2 * ctx.leaseMs;
  const legacyWindowS = (ctx.graceMs + ctx.pollMs) / 1000;
  for (;;) {
    const acksBefore = ctx.feed?.acksHeard ?? 0;
    let laggards: string[];
    let expired: string[] = [];
    let nextExpiryMs = Infinity;
    try {
      const res = await ctx.pool.query<{
        id: string;
        host: string;
        pid: number;
        live: boolean;
        remaining_ms: number | null;
      }>(
        `UPDATE ${ctx.q}.instances SET lease_expires_at = lease_expires_at
         WHERE id <> $1 AND applied_sequence < $2
         RETURNING id, host, pid,
           CASE WHEN lease_expires_at IS NULL THEN seen_at > clock_timestamp() - make_interval(secs => $3)
                ELSE lease_expires_at > clock_timestamp() END AS live,
           (extract(epoch FROM lease_expires_at - clock_timestamp()) * 1000)::float8 AS remaining_ms`,
        [ctx.instanceId, sequence, legacyWindowS],
      );
      const name = (r: { id: string; host: string; pid: number }) => `${r.id} (${r.host} pid ${r.pid})`;
      laggards = res.rows.filter((r) => r.live).map(name);
      expired = res.rows.filter((r) => !r.live).map(name);
      for (const r of res.rows)
        if (r.live && r.remaining_ms !== null) nextExpiryMs = Math.min(nextExpiryMs, Math.max(0, r.remaining_ms));
    } catch (err) {
      laggards = [`unknown (${pgMessage(err)})`];
    }
    const now = performance.now();
    const ack: FleetAck = { sequence, laggards, expired, waitedMs: now - started };
    if (laggards.length === 0) return ack;
    if (signal?.aborted || now >= deadline || ctx.closed()) {
      ctx.log.warn('restricting change not confirmed by every live instance in time', {
        sequence,
        instances: laggards,
        waited_ms: Math.round(ack.waitedMs),
      });
      throw new FleetUnconfirmedError(signal?.aborted ? 'deadline_exceeded' : 'unavailable', ack);
    }
    const feed = ctx.feed;
    const wait = Math.min(deadline - now, nextExpiryMs + 1, feed?.listening ? 100 : 10);
    await waitOrAbort(
      feed?.listening ? (ms) => feed.waitForAck(ms, acksBefore) : (ms) => new Promise((r) => setTimeout(r, ms)),
      wait,
      signal,
    );
  }
}

/** Waits `ms` through `wait`, or until `signal` aborts. */
async function waitOrAbort(
  wait: (ms: number) => Promise<unknown>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!signal) {
    await wait(ms);
    return;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([wait(ms), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
