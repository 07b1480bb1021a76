import type pg from 'pg';
import {
  chainRecord,
  canonicalJson,
  GENESIS_HASH,
  type AuditFields,
  type AuditHead,
  type AuditRecord,
} from './audit-record.js';
import type { AuditFilter } from './audit-trail.js';

/**
 * The SQL of the PostgreSQL audit trail (`<schema>.audit_records`, created by the registry's migration 4).
 * `q` is the quoted schema (src/registry/postgres/migrate.ts quoteSchema). Rows are only ever inserted.
 */

/** The lock every writer of one schema's chain takes, held to its transaction's end. */
export function chainLockKey(schema: string): string {
  return `unwrapd:audit:${schema}`;
}

/**
 * Inside a transaction: takes the chain's lock (held to COMMIT or ROLLBACK, so concurrent writers of every
 * instance serialise and chain one after the other), reads the newest row and inserts `fields` after it.
 */
export async function insertAuditRecords(
  client: pg.ClientBase,
  q: string,
  schema: string,
  fields: readonly AuditFields[],
  now: (() => Date) | undefined,
): Promise<AuditRecord[]> {
  if (fields.length === 0) return [];
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [chainLockKey(schema)]);
  // Timed only now that the lock is held: a writer that waited for it never precedes the record before it.
  const at = (now ? now() : await databaseNow(client)).toISOString();
  let head = await readHead(client, q);
  const records: AuditRecord[] = [];
  for (const f of fields) {
    const record = chainRecord(head, f, at);
    await client.query(
      `INSERT INTO ${q}.audit_records (seq, at, type, tenant, policy_id, hash, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [record.seq, record.at, record.type, record.tenant, record.policyId, record.hash, canonicalJson(record)],
    );
    records.push(record);
    head = { count: record.seq, hash: record.hash };
  }
  return records;
}

/** The database server's clock at this moment (not the transaction's start): one clock for every instance. */
async function databaseNow(client: pg.ClientBase): Promise<Date> {
  const res = await client.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return res.rows[0]!.now;
}

/** The newest row's sequence and hash (the genesis hash when there is none). */
export async function readHead(client: pg.ClientBase | pg.Pool, q: string): Promise<AuditHead> {
  const res = await client.query<{ seq: string; hash: string }>(
    `SELECT seq, hash FROM ${q}.audit_records ORDER BY seq DESC LIMIT 1`,
  );
  const row = res.rows[0];
  return row ? { count: Number(row.seq), hash: row.hash } : { count: 0, hash: GENESIS_HASH };
}

export interface AuditRow {
  seq: string;
  at: Date;
  type: string;
  tenant: string;
  policy_id: string;
  hash: string;
  record: string;
}

/** At most `limit` rows matching `filter`, in sequence order. */
export async function selectAuditRows(
  pool: pg.Pool,
  q: string,
  filter: AuditFilter,
  limit: number,
): Promise<AuditRow[]> {
  const res = await pool.query<AuditRow>(
    `SELECT seq, at, type, tenant, policy_id, hash, record FROM ${q}.audit_records
     WHERE seq >= $1
       AND ($2::text[] IS NULL OR tenant = ANY($2))
       AND ($3::text IS NULL OR policy_id = $3)
       AND ($4::text[] IS NULL OR type = ANY($4))
       AND ($5::timestamptz IS NULL OR at >= $5)
       AND ($6::timestamptz IS NULL OR at < $6)
     ORDER BY seq LIMIT $7`,
    [
      filter.fromSeq ?? 1,
      filter.tenants ? [...filter.tenants] : null,
      filter.policyId ?? null,
      filter.types ? [...filter.types] : null,
      filter.since ?? null,
      filter.until ?? null,
      limit,
    ],
  );
  return res.rows;
}

/** Every row from `fromSeq` on, a page at a time, in sequence order (verification and export). */
export async function* allAuditRows(
  pool: pg.Pool,
  q: string,
  fromSeq = 1,
  toSeq = Number.MAX_SAFE_INTEGER,
  page = 1000,
): AsyncGenerator<AuditRow> {
  let next = fromSeq;
  for (;;) {
    const res = await pool.query<AuditRow>(
      `SELECT seq, at, type, tenant, policy_id, hash, record FROM ${q}.audit_records
       WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
      [next, toSeq, page],
    );
    for (const row of res.rows) yield row;
    if (res.rows.length < page) return;
    next = Number(res.rows[res.rows.length - 1]!.seq) + 1;
  }
}

/**
 * The record a row holds, and whether its query columns agree with it: a row whose `tenant` (say) was edited
 * would hide the record from that tenant's queries while its `record` still verifies.
 */
export function recordOfRow(row: AuditRow): { record?: AuditRecord; problem?: string } {
  let record: AuditRecord;
  try {
    record = JSON.parse(row.record) as AuditRecord;
  } catch {
    return { problem: 'its record is not valid JSON' };
  }
  if (
    String(record.seq) !== String(row.seq) ||
    record.type !== row.type ||
    record.tenant !== row.tenant ||
    record.policyId !== row.policy_id ||
    record.hash !== row.hash ||
    Date.parse(record.at) !== row.at.getTime()
  )
    return { record, problem: 'its columns do not match its record (the row was edited)' };
  return { record };
}
