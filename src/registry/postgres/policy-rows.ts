import type pg from 'pg';
import type { PolicyRecord } from '../policy.js';
import type { PolicyEventType } from '../policy-events.js';
import { freezeRecord, type StoredPolicy } from '../registry-rules.js';
import { validatePolicyRecord } from '../validate-policy.js';

/**
 * The SQL of the policy tables and the mapping of their rows, for the registry and its feed. `q` is the
 * quoted schema (src/registry/postgres/migrate.ts quoteSchema). A policy is stored as its JSONB record plus
 * the columns queries filter on (state, revision).
 */

/** A stored record, validated (a row that fails is reported as `internal`, naming `where`) and frozen. */
export function recordFromRow(record: unknown, where: string): PolicyRecord {
  return freezeRecord(validatePolicyRecord(record, { code: 'internal', where }));
}

/** Every stored record and the event sequence they reflect, read in one consistent snapshot. */
export async function readAllPolicies(
  client: pg.ClientBase,
  q: string,
): Promise<{ sequence: number; records: unknown[] }> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const seq = await client.query<{ max: string | null }>(`SELECT max(sequence) AS max FROM ${q}.policy_events`);
    const rows = await client.query<{ record: unknown }>(`SELECT record FROM ${q}.policies`);
    await client.query('COMMIT');
    return { sequence: Number(seq.rows[0]?.max ?? 0), records: rows.rows.map((r) => r.record) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** The stored records of the given (tenant, id) pairs (those that exist). */
export async function readPolicies(
  client: pg.ClientBase,
  q: string,
  keys: ReadonlyArray<{ tenant: string; id: string }>,
): Promise<unknown[]> {
  const res = await client.query<{ record: unknown }>(
    `SELECT p.record FROM ${q}.policies p JOIN unnest($1::text[], $2::text[]) AS k(tenant, id) ON p.tenant = k.tenant AND p.id = k.id`,
    [keys.map((k) => k.tenant), keys.map((k) => k.id)],
  );
  return res.rows.map((r) => r.record);
}

/** A stored policy of the tenant being written, as the registry rules judge it; the record only for the one written. */
export interface TenantRow extends StoredPolicy {
  /** Only for the policy being written. */
  record: unknown;
}

/**
 * Inside a write transaction: takes the tenant's advisory lock (limits hold against concurrent writers)
 * and reads the tenant's rows, with the full record of `id` only.
 */
export async function lockTenant(
  client: pg.ClientBase,
  q: string,
  schema: string,
  tenant: string,
  id: string,
): Promise<TenantRow[]> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`unwrapd:tenant:${schema}:${tenant}`]);
  const rows = await client.query<{
    id: string;
    state: string;
    revision: string;
    mode: string | null;
    geo: string | null;
    record: unknown;
  }>(
    `SELECT id, state, revision, record->>'mode' AS mode, record->>'geo' AS geo,
            CASE WHEN id = $2 THEN record END AS record
     FROM ${q}.policies WHERE tenant = $1`,
    [tenant, id],
  );
  return rows.rows.map((r) => ({
    id: r.id,
    state: r.state,
    revision: Number(r.revision),
    mode: r.mode ?? '',
    geo: r.geo ?? '',
    record: r.record,
  }));
}

export async function insertPolicy(client: pg.ClientBase, q: string, record: PolicyRecord): Promise<void> {
  await client.query(
    `INSERT INTO ${q}.policies (tenant, id, state, revision, record) VALUES ($1, $2, $3, $4, $5::jsonb)`,
    [record.tenant, record.id, record.state, record.revision, JSON.stringify(record)],
  );
}

/** Replaces the policy if it is still at `expectedRevision`; false when it is not (a revision conflict). */
export async function updatePolicy(
  client: pg.ClientBase,
  q: string,
  record: PolicyRecord,
  expectedRevision: number,
): Promise<boolean> {
  const res = await client.query(
    `UPDATE ${q}.policies SET state = $3, revision = $4, record = $5::jsonb, updated_at = now()
     WHERE tenant = $1 AND id = $2 AND revision = $6`,
    [record.tenant, record.id, record.state, record.revision, JSON.stringify(record), expectedRevision],
  );
  return res.rowCount === 1;
}

/**
 * Appends the event of a write and announces it with NOTIFY on `channel` (delivered at commit). Takes the
 * log-wide lock until commit, so sequences are handed out in commit order. Returns the sequence.
 */
export async function appendEvent(
  client: pg.ClientBase,
  q: string,
  schema: string,
  channel: string,
  type: PolicyEventType,
  record: PolicyRecord,
): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`unwrapd:events:${schema}`]);
  const ev = await client.query<{ sequence: string }>(
    `WITH e AS (
       INSERT INTO ${q}.policy_events (type, tenant, policy_id, revision) VALUES ($1, $2, $3, $4) RETURNING sequence
     )
     SELECT sequence, pg_notify($5, sequence::text) FROM e`,
    [type, record.tenant, record.id, record.revision, channel],
  );
  return Number(ev.rows[0]?.sequence ?? 0);
}
