import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { UnwrapdError, isUnwrapdError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { ChangeFeedCapability } from '../change-feed.js';
import { policyKey, type PolicyRecord } from '../policy.js';
import { eventTypeOf, type PolicyEvent, type PolicyEventLog } from '../policy-events.js';
import {
  RevisionConflictError,
  type PolicyRegistry,
  type RegistryDatabase,
  type RegistryLimits,
  type WriteOptions,
} from '../policy-registry.js';
import { checkCreate, checkUpdate, createCandidate, registryLimits, updateCandidate } from '../registry-rules.js';
import { ChangeFeed } from './change-feed.js';
import { FleetEventLog } from './fleet-event-log.js';
import { MemoryRecords } from './memory-records.js';
import { awaitFleetAck, FleetUnconfirmedError, type FleetAck } from './fleet-ack.js';
import { registerInstance, removeInstance } from './instance-sql.js';
import { migrate, quoteSchema, type MigrationResult } from './migrate.js';
import { createPool, connectWithRetry } from './pg-pool.js';
import { writeTransaction, type WriteChange } from './write-transaction.js';
import { DEFAULT_SCHEMA, type PostgresRegistryOptions } from './registry-options.js';
import { describeConnection, pgMessage } from './pg-text.js';
import {
  insertPolicy,
  readAllPolicies,
  readPolicies,
  recordFromRow,
  updatePolicy,
  type TenantRow,
} from './policy-rows.js';

export { FleetUnconfirmedError, type FleetAck } from './fleet-ack.js';
export { describeConnection, pgMessage } from './pg-text.js';
export { DEFAULT_SCHEMA, type PostgresRegistryOptions } from './registry-options.js';

/**
 * The fleet registry: policies in PostgreSQL, shared by every unwrapd instance, with a change feed.
 *
 * - Reads come from memory, as with the file registry: a snapshot loaded at open, kept current by the feed.
 * - A write is one transaction: it takes the tenant's advisory lock (limits hold against concurrent
 *   writers), checks the revision (optimistic concurrency), writes the record (JSONB, plus the columns
 *   queries filter on), and appends an event to `<schema>.policy_events` under a log-wide lock, so that
 *   sequence order is commit order and a reader that has seen sequence n has seen everything before it.
 *   The event is announced with NOTIFY, delivered at commit. The write's hook runs in the same
 *   transaction: the audit trail's records of the change (`<schema>.audit_records`) commit with it or not at all.
 * - Every instance holds a lease in `<schema>.instances`, renewed by its feed (change-feed.ts). After a
 *   write that takes something away (revoke, purge, a retired key version), `awaitFleet` resolves only once
 *   every instance whose lease has not expired (database clock) has applied it; an instance whose lease
 *   expired has fenced itself before (its own clock, with a margin). So when Revoke is acknowledged, no
 *   instance serves the old key.
 */

export class PostgresRegistry implements PolicyRegistry {
  readonly description: string;
  readonly schema: string;
  readonly instanceId = randomBytes(8).toString('hex');
  readonly events: PolicyEventLog;
  readonly #opts: PostgresRegistryOptions;
  readonly #q: string;
  readonly #limits: RegistryLimits;
  readonly #log: Logger;
  readonly #graceMs: number;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #renewMs: number;
  readonly #marginMs: number;
  readonly #clock: () => number;
  /** The highest event sequence this instance wrote. */
  #lastWritten = 0;
  readonly #records: MemoryRecords;
  readonly #eventLog: FleetEventLog;
  #pool: pg.Pool | undefined;
  #feed: ChangeFeed | undefined;
  #opened = false;
  #closed = false;
  #migration: MigrationResult | undefined;
  /** The last fleet wait, for tests and benchmarks. */
  lastFleetAck: FleetAck | undefined;

  constructor(opts: PostgresRegistryOptions) {
    this.#opts = opts;
    this.schema = opts.schema ?? DEFAULT_SCHEMA;
    this.#q = quoteSchema(this.schema);
    this.#limits = registryLimits(opts.limits);
    this.#log = opts.log ?? silentLogger;
    this.#graceMs = opts.feedGraceMs ?? 5_000;
    this.#pollMs = opts.feedPollMs ?? 1_000;
    this.#leaseMs = opts.fleetLeaseMs ?? 10_000;
    this.#renewMs = opts.fleetRenewMs ?? 2_000;
    this.#marginMs = opts.fleetFenceMarginMs ?? 2_000;
    this.#clock = opts.clock ?? (() => performance.now());
    if (this.#leaseMs - this.#marginMs < 2 * this.#renewMs) {
      throw new UnwrapdError(
        'invalid_argument',
        'fleetLeaseMs minus fleetFenceMarginMs must leave room for two renewals (2 x fleetRenewMs)',
      );
    }
    this.description = `${describeConnection(opts.connectionString)} schema ${this.schema}`;
    this.#records = new MemoryRecords((err) =>
      this.#log.error(`${this.description}: an onChange listener threw`, {
        error: err instanceof Error ? err : String(err),
      }),
    );
    const pool = () => this.#requirePool();
    this.#eventLog = new FleetEventLog({
      q: this.#q,
      description: this.description,
      pool,
      lastSequence: () => this.#feed?.lastSequence ?? 0,
    });
    this.events = this.#eventLog.log;
  }

  /** The change feed, as a revocation source (GetStatus shows it; the daemon follows its deafness). */
  get feed(): ChangeFeed {
    if (!this.#feed)
      throw new UnwrapdError('failed_precondition', `${this.description} is not open`, {
        reason: 'REGISTRY_UNAVAILABLE',
      });
    return this.#feed;
  }

  /** The change feed and the fleet-wide event log: this registry is shared by a fleet (src/registry/change-feed.ts). */
  changeFeed(): ChangeFeedCapability {
    return { feed: this.feed, events: this.events };
  }

  /** The database, for the audit trail kept beside the policies (src/audit/postgres-audit-trail.ts). */
  database(): RegistryDatabase {
    return { schema: this.schema, q: this.#q, description: this.description, pool: () => this.#requirePool() };
  }

  get migration(): MigrationResult | undefined {
    return this.#migration;
  }

  async open(): Promise<void> {
    if (this.#opened || this.#closed)
      throw new UnwrapdError('failed_precondition', `${this.description} was already opened`);
    this.#opened = true;
    const { connectionString, poolMax = 4, connectTimeoutMs = 10_000 } = this.#opts;
    const pool = createPool({
      connectionString,
      max: poolMax,
      instanceId: this.instanceId,
      connectTimeoutMs,
      log: this.#log,
    });
    this.#pool = pool;
    try {
      const client = await connectWithRetry(pool, connectTimeoutMs, this.#log);
      try {
        this.#migration = await migrate(client, this.schema);
        if (this.#migration.applied.length > 0)
          this.#log.info('PostgreSQL schema migrated', { schema: this.schema, applied: this.#migration.applied });
        if (this.#migration.unknown.length > 0) {
          this.#log.warn('PostgreSQL schema has migrations this unwrapd does not know (a newer version applied them)', {
            unknown: this.#migration.unknown,
          });
        }
        // Register before the snapshot: a revoking writer that commits after this row exists waits for us;
        // one that committed before it is in the snapshot.
        const leaseSentAt = this.#clock();
        await registerInstance(client, this.#q, this.instanceId, this.#leaseMs);
        const start = await this.#loadSnapshot(client);
        this.#feed = new ChangeFeed({
          clientConfig: { connectionString: this.#opts.connectionString },
          schema: this.schema,
          instanceId: this.instanceId,
          startSequence: start,
          graceMs: this.#graceMs,
          pollMs: this.#pollMs,
          leaseMs: this.#leaseMs,
          renewMs: this.#renewMs,
          fenceMarginMs: this.#marginMs,
          leaseSentAt,
          clock: this.#clock,
          reconnectMinMs: this.#opts.reconnectMinMs ?? 100,
          reconnectMaxMs: this.#opts.reconnectMaxMs ?? 5_000,
          apply: (events, c) => this.#apply(events, c),
          resync: (c) => this.#resync(c),
          log: this.#log,
        });
      } finally {
        client.release();
      }
      await this.#feed.open();
    } catch (err) {
      await this.#feed?.stop().catch(() => {});
      await pool.end().catch(() => {});
      this.#pool = undefined;
      if (isUnwrapdError(err)) throw err;
      throw new UnwrapdError('unavailable', `${this.description}: cannot open (${pgMessage(err)})`, { cause: err });
    }
  }

  get(tenant: string, id: string): PolicyRecord | undefined {
    this.#requireOpen();
    return this.#records.get(tenant, id);
  }

  list(tenant?: string): PolicyRecord[] {
    this.#requireOpen();
    return this.#records.list(tenant);
  }

  async create(record: PolicyRecord, opts?: WriteOptions): Promise<PolicyRecord> {
    const candidate = createCandidate(record);
    await this.#write(
      candidate,
      async (client, tenantRows) => {
        checkCreate(tenantRows, candidate, this.#limits);
        await insertPolicy(client, this.#q, candidate);
        return { type: 'created', before: undefined };
      },
      opts,
    );
    return candidate;
  }

  async update(record: PolicyRecord, expectedRevision: number, opts?: WriteOptions): Promise<PolicyRecord> {
    const candidate = updateCandidate(record, expectedRevision);
    const key = policyKey(candidate.tenant, candidate.id);
    await this.#write(
      candidate,
      async (client, tenantRows) => {
        const stored = checkUpdate(tenantRows, candidate, expectedRevision);
        const before = recordFromRow(stored.record, `${this.description}: policy ${key}`);
        if (!(await updatePolicy(client, this.#q, candidate, expectedRevision))) throw new RevisionConflictError(key);
        return { type: eventTypeOf(before, candidate), before };
      },
      opts,
    );
    return candidate;
  }

  onChange(listener: (record: PolicyRecord) => void): () => void {
    return this.#records.onChange(listener);
  }

  /**
   * Resolves once every other instance whose lease has not expired (database clock) has applied every
   * event this instance has written or applied (fleet-ack.ts); throws FleetUnconfirmedError when `signal`
   * or twice the lease ends the wait first (the change stays durable and in force). With
   * fleetAckWait=false it resolves at once.
   */
  async awaitFleet(signal?: AbortSignal): Promise<FleetAck> {
    const sequence = Math.max(this.#lastWritten, this.#feed?.lastSequence ?? 0);
    if (!(this.#opts.fleetAckWait ?? true)) return { sequence, laggards: [], expired: [], waitedMs: 0 };
    const ctx = {
      pool: this.#requirePool(),
      q: this.#q,
      instanceId: this.instanceId,
      leaseMs: this.#leaseMs,
      graceMs: this.#graceMs,
      pollMs: this.#pollMs,
      feed: this.#feed,
      closed: () => this.#closed,
      log: this.#log,
    };
    try {
      this.lastFleetAck = await awaitFleetAck(ctx, sequence, signal);
      return this.lastFleetAck;
    } catch (err) {
      if (err instanceof FleetUnconfirmedError) this.lastFleetAck = err.ack;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#feed?.stop();
    const pool = this.#pool;
    if (pool) {
      // Leave the fleet: writers stop waiting for us.
      await removeInstance(pool, this.#q, this.instanceId).catch(() => {});
      await pool.end().catch(() => {});
    }
    this.#eventLog.close();
  }

  /** Loads every policy and the sequence they reflect, in one consistent snapshot. */
  async #loadSnapshot(client: pg.PoolClient): Promise<number> {
    const { sequence, records } = await readAllPolicies(client, this.#q);
    this.#records.load(records.map((row) => recordFromRow(row, `${this.description}: a stored policy`)));
    return sequence;
  }

  /** One write transaction (write-transaction.ts); then the record is adopted here at once (this process's onChange). */
  async #write(
    candidate: PolicyRecord,
    change: (client: pg.PoolClient, tenantRows: TenantRow[]) => Promise<WriteChange>,
    opts?: WriteOptions,
  ): Promise<void> {
    this.#requireOpen();
    if (this.#closed)
      throw new UnwrapdError('unavailable', `${this.description} is closed`, { reason: 'REGISTRY_UNAVAILABLE' });
    const ctx = { pool: this.#requirePool(), q: this.#q, schema: this.schema, description: this.description };
    const outcome = await writeTransaction(ctx, candidate, change, opts);
    this.#lastWritten = Math.max(this.#lastWritten, outcome.sequence);
    if (this.#records.adopt(candidate)) this.#records.notify(candidate);
  }

  /** Applies a batch of feed events: reloads the records they name and notifies the changed ones. */
  async #apply(events: PolicyEvent[], client: pg.ClientBase): Promise<void> {
    const keys = new Map<string, { tenant: string; id: string }>();
    for (const e of events) keys.set(policyKey(e.tenant, e.policyId), { tenant: e.tenant, id: e.policyId });
    const changed: PolicyRecord[] = [];
    for (const row of await readPolicies(client, this.#q, [...keys.values()])) {
      let record: PolicyRecord;
      try {
        record = recordFromRow(row, `${this.description}: a stored policy`);
      } catch (err) {
        // A corrupt row is reported and skipped; a revocation event for it still evicts (the feed's onRevoked).
        this.#log.error('a stored policy failed validation; keeping the copy in memory', {
          error: err instanceof Error ? err : String(err),
        });
        continue;
      }
      if (this.#records.adopt(record)) changed.push(record);
    }
    for (const record of changed) this.#records.notify(record);
    this.#eventLog.publish(events);
  }

  /** A full reload after the log went backwards (memory-records.ts replaceAll); returns the sequence it covers. */
  async #resync(client: pg.ClientBase): Promise<number> {
    const { sequence, records } = await readAllPolicies(client, this.#q);
    this.#records.replaceAll(records.map((row) => recordFromRow(row, `${this.description}: a stored policy`)));
    return sequence;
  }

  #requireOpen(): void {
    if (!this.#pool && !this.#closed)
      throw new UnwrapdError('failed_precondition', `${this.description} is not open`, {
        reason: 'REGISTRY_UNAVAILABLE',
      });
  }

  #requirePool(): pg.Pool {
    if (!this.#pool)
      throw new UnwrapdError('unavailable', `${this.description} is not open`, { reason: 'REGISTRY_UNAVAILABLE' });
    return this.#pool;
  }
}
