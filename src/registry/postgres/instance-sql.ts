import { hostname } from 'node:os';
import type pg from 'pg';
import { EVENT_COLUMNS, type PolicyEventRow } from './event-row.js';

/**
 * The SQL of the fleet's bookkeeping: `<schema>.instances` (one row per live instance: what it has applied,
 * its lease set by the database clock) and reads of the event log. `q` is the quoted schema.
 */

/** Rows of `instances` not seen for this long are removed at open (crashed instances). */
const STALE_INSTANCE_SECONDS = 24 * 3600;

/** At open: removes rows of long-gone instances, then registers this one with a first lease. */
export async function registerInstance(
  client: pg.ClientBase,
  q: string,
  instanceId: string,
  leaseMs: number,
): Promise<void> {
  await client.query(`DELETE FROM ${q}.instances WHERE seen_at < now() - make_interval(secs => $1)`, [
    STALE_INSTANCE_SECONDS,
  ]);
  await client.query(
    `INSERT INTO ${q}.instances (id, host, pid, applied_sequence, lease_expires_at)
     VALUES ($1, $2, $3, 0, clock_timestamp() + make_interval(secs => $4))`,
    [instanceId, hostname(), process.pid, leaseMs / 1000],
  );
}

/** A fresh lease (and the row, if it was removed), unconditionally: the re-join after a lost lease. */
export async function rejoinInstance(
  client: pg.ClientBase,
  q: string,
  instanceId: string,
  applied: number,
  leaseMs: number,
): Promise<void> {
  await client.query(
    `INSERT INTO ${q}.instances AS i (id, host, pid, applied_sequence, lease_expires_at)
     VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))
     ON CONFLICT (id) DO UPDATE SET seen_at = now(), lease_expires_at = EXCLUDED.lease_expires_at,
       applied_sequence = GREATEST(i.applied_sequence, EXCLUDED.applied_sequence)`,
    [instanceId, hostname(), process.pid, applied, leaseMs / 1000],
  );
}

/**
 * Renews the lease, only if the database has not seen it expire, and records `applied`; when `announce`,
 * NOTIFYs `ackChannel` in the same round trip. False when the lease had expired (nothing changed).
 */
export async function renewLease(
  client: pg.ClientBase,
  q: string,
  opts: { instanceId: string; applied: number; leaseMs: number; announce: boolean; ackChannel: string },
): Promise<boolean> {
  const res = await client.query<{ renewed: number }>(
    `WITH i AS (
       UPDATE ${q}.instances
       SET seen_at = now(), lease_expires_at = clock_timestamp() + make_interval(secs => $3), applied_sequence = GREATEST(applied_sequence, $2)
       WHERE id = $1 AND lease_expires_at > clock_timestamp()
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM i)::int AS renewed, CASE WHEN $4::boolean THEN pg_notify($5, $6) END AS notified`,
    [
      opts.instanceId,
      opts.applied,
      opts.leaseMs / 1000,
      opts.announce,
      opts.ackChannel,
      `${opts.instanceId} ${opts.applied}`,
    ],
  );
  return Number(res.rows[0]?.renewed ?? 0) === 1;
}

/** Sets what this instance reports as applied, down as well as up (after a resync). */
export async function setApplied(client: pg.ClientBase, q: string, instanceId: string, applied: number): Promise<void> {
  await client.query(`UPDATE ${q}.instances SET applied_sequence = $2 WHERE id = $1`, [instanceId, applied]);
}

/** Leaves the fleet: writers stop waiting for this instance. */
export async function removeInstance(client: pg.ClientBase | pg.Pool, q: string, instanceId: string): Promise<void> {
  await client.query(`DELETE FROM ${q}.instances WHERE id = $1`, [instanceId]);
}

/** Up to `limit` events after `after`, in order. */
export async function readEventsAfter(
  client: pg.ClientBase,
  q: string,
  after: number,
  limit: number,
): Promise<PolicyEventRow[]> {
  const res = await client.query<PolicyEventRow>(
    `SELECT ${EVENT_COLUMNS} FROM ${q}.policy_events WHERE sequence > $1 ORDER BY sequence LIMIT ${limit}`,
    [after],
  );
  return res.rows;
}

/** The last sequence in the log (0 when empty). */
export async function logEnd(client: pg.ClientBase, q: string): Promise<number> {
  const max = await client.query<{ max: string | null }>(`SELECT max(sequence) AS max FROM ${q}.policy_events`);
  return Number(max.rows[0]?.max ?? 0);
}
