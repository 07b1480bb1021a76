import type pg from 'pg';
import { UnwrapdError, isUnwrapdError } from '../errors.js';
import type { RegistryDatabase, WriteTransaction } from '../registry/policy-registry.js';
import {
  ChainCheck,
  GENESIS_HASH,
  type AuditFields,
  type AuditHead,
  type AuditRecord,
  type VerifyResult,
} from './audit-record.js';
import { AppendListeners, trailClosed, type AuditFilter, type AuditTrail, type PendingAudit } from './audit-trail.js';
import { allAuditRows, insertAuditRecords, readHead, recordOfRow, selectAuditRows } from './postgres-audit-sql.js';

/**
 * The audit trail of a fleet: `<schema>.audit_records` in the registry's database, one hash chain for every
 * instance, ordered by sequence number. A policy change's records are inserted in the change's transaction
 * (`prepare`: they commit with it or not at all); other records (availability-key uses, denials, evictions)
 * each in a transaction of their own (`append`). Writers serialise on the chain's advisory lock inside their
 * transaction, so concurrent instances produce one valid chain; each record is timed once the lock is held (the
 * database clock), so `at` never decreases with the sequence. Rows are only ever inserted.
 */
export interface PostgresAuditTrailOptions {
  database: RegistryDatabase;
  /** The records' clock, read after the chain lock; default: the database server's clock_timestamp(). */
  now?: () => Date;
  /** How long a follower waits between reads for other instances' records. Default 1000 ms. */
  followPollMs?: number;
}

export class PostgresAuditTrail implements AuditTrail {
  readonly path: string;
  readonly followPollMs: number;
  readonly #db: RegistryDatabase;
  readonly #now: (() => Date) | undefined;
  readonly #listeners = new AppendListeners();
  #head: AuditHead = { count: 0, hash: GENESIS_HASH };
  #closed = false;
  /** Appends under way: close() lets them finish before the registry closes the pool. */
  readonly #appending = new Set<Promise<unknown>>();

  constructor(opts: PostgresAuditTrailOptions) {
    this.#db = opts.database;
    this.#now = opts.now;
    this.followPollMs = opts.followPollMs ?? 1_000;
    this.path = `${opts.database.description} table audit_records`;
  }

  /** Reads the newest record (GetStatus shows it). Call after the registry opened. */
  async open(): Promise<void> {
    this.#seen(await this.#read((pool) => readHead(pool, this.#db.q)));
  }

  append(fields: AuditFields): Promise<AuditRecord> {
    if (this.#closed) return Promise.reject(trailClosed(this.path));
    const appending = this.#append(fields);
    this.#appending.add(appending);
    void appending.then(
      () => this.#appending.delete(appending),
      () => this.#appending.delete(appending),
    );
    return appending;
  }

  async #append(fields: AuditFields): Promise<AuditRecord> {
    const pool = this.#db.pool();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw this.#unavailable('cannot connect', err);
    }
    let broken = false;
    let records: AuditRecord[];
    try {
      await client.query('BEGIN');
      records = await insertAuditRecords(client, this.#db.q, this.#db.schema, [fields], this.#now);
      await client.query('COMMIT');
    } catch (err) {
      broken = true;
      await client.query('ROLLBACK').catch(() => {});
      throw this.#unavailable('cannot append an audit record', err);
    } finally {
      client.release(broken);
    }
    this.#published(records);
    return records[0]!;
  }

  prepare(fields: () => AuditFields[]): PendingAudit {
    if (this.#closed) throw trailClosed(this.path); // before the registry writes anything
    let inserted: AuditRecord[] | undefined;
    return {
      within: async (tx: WriteTransaction) => {
        // Refused, the change's transaction rolls back: neither the change nor its records are written.
        if (this.#closed) throw trailClosed(this.path);
        if (tx.backend !== 'postgres')
          throw new UnwrapdError('internal', 'the audit trail is in PostgreSQL but the registry write is not');
        // Each attempt of the write starts over (a failed one rolled back what it inserted).
        inserted = await insertAuditRecords(tx.client, this.#db.q, this.#db.schema, fields(), this.#now);
      },
      settle: async () => {
        // The registry committed: publish what it committed (a registry that never ran the hook: append now).
        if (inserted === undefined) {
          const out: AuditRecord[] = [];
          for (const f of fields()) out.push(await this.append(f));
          return out;
        }
        this.#published(inserted);
        return inserted;
      },
      discard: () => {}, // a refused write rolled its records back with it
    };
  }

  head(): AuditHead {
    return this.#head;
  }

  async latest(): Promise<AuditHead> {
    this.#seen(await this.#read((pool) => readHead(pool, this.#db.q)));
    return this.#head;
  }

  async list(filter: AuditFilter, limit: number): Promise<AuditRecord[]> {
    const rows = await this.#read((pool) => selectAuditRows(pool, this.#db.q, filter, limit));
    const records: AuditRecord[] = [];
    for (const row of rows) {
      const { record, problem } = recordOfRow(row);
      if (!record || problem)
        throw new UnwrapdError('internal', `audit record ${row.seq} is damaged (${problem}): run unwrapd audit verify`);
      records.push(record);
    }
    const last = records[records.length - 1];
    if (last) this.#seen({ count: last.seq, hash: last.hash });
    return records;
  }

  onAppend(listener: (record: AuditRecord) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Once per record this instance wrote; other instances' rows are found by the followers' poll. */
  onRecords(listener: () => void): () => void {
    return this.#listeners.add(() => listener());
  }

  async verify(): Promise<VerifyResult> {
    return this.#read((pool) => verifyPostgresTrail(pool, this.#db.q));
  }

  async close(): Promise<void> {
    // The pool is the registry's: it closes with the registry, after this.
    this.#closed = true;
    await Promise.allSettled([...this.#appending]);
  }

  #published(records: readonly AuditRecord[]): void {
    const last = records[records.length - 1];
    if (last) this.#seen({ count: last.seq, hash: last.hash });
    this.#listeners.emit(records);
  }

  #seen(head: AuditHead): void {
    if (head.count > this.#head.count) this.#head = head;
  }

  async #read<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(this.#db.pool());
    } catch (err) {
      if (isUnwrapdError(err)) throw err;
      throw this.#unavailable('cannot read the audit trail', err);
    }
  }

  #unavailable(what: string, err: unknown): UnwrapdError {
    if (isUnwrapdError(err)) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new UnwrapdError('unavailable', `${this.#db.description}: ${what} (${message.slice(0, 200)})`, {
      cause: err,
    });
  }
}

/**
 * Checks the chain in `<q>.audit_records` from its first row: consecutive sequence numbers from 1 (or from
 * `anchor`, the last record of an export that covers pruned rows), each chained to the one before, each
 * hash matching its record, each row's columns matching its record.
 */
export async function verifyPostgresTrail(
  pool: pg.Pool,
  q: string,
  anchor?: { seq: number; hash: string },
): Promise<VerifyResult> {
  const chain = new ChainCheck(anchor);
  const firstSeq = (anchor?.seq ?? 0) + 1;
  for await (const row of allAuditRows(pool, q, firstSeq)) {
    const where = `row seq ${row.seq}`;
    const { record, problem } = recordOfRow(row);
    if (!record || problem) return { ok: false, records: chain.count, problem: `${where}: ${problem}`, firstSeq };
    const broken = chain.check(record, where);
    if (broken) return { ok: false, records: chain.count, problem: broken, firstSeq };
  }
  return { ok: true, records: chain.count, head: chain.last, firstSeq };
}
