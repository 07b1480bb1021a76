import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { UnwrapdError, isUnwrapdError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { policyKey, type PolicyRecord } from '../policy.js';
import { eventTypeOf, isRestricting, type PolicyEvent, type PolicyEventLog, type PolicyEventType } from '../policy-events.js';
import { RevisionConflictError, type PolicyRegistry, type RegistryLimits } from '../policy-registry.js';
import { validatePolicyRecord } from '../validate-policy.js';
import { ChangeFeed, feedChannels } from './change-feed.js';
import { migrate, quoteSchema, type MigrationResult } from './migrate.js';
import { EVENT_COLUMNS, eventFromRow, type PolicyEventRow } from './event-row.js';
import { CloseNotifier } from '../close-notifier.js';

/**
 * The fleet registry: policies in PostgreSQL, shared by every unwrapd instance, with a change feed.
 *
 * - Reads come from memory, as with the file registry: a snapshot loaded at open, kept current by the feed.
 * - A write is one transaction: it takes the tenant's advisory lock (limits hold against concurrent
 *   writers), checks the revision (optimistic concurrency), writes the record (JSONB, plus the columns
 *   queries filter on), and appends an event to `<schema>.policy_events` under a log-wide lock, so that
 *   sequence order is commit order and a reader that has seen sequence n has seen everything before it.
 *   The event is announced with NOTIFY, delivered at commit.
 * - Every instance holds a lease in `<schema>.instances`, renewed by its feed (change-feed.ts). After a
 *   write that takes something away (revoke, purge, a retired key version), `awaitFleet` resolves only once
 *   every instance whose lease has not expired (database clock) has applied it; an instance whose lease
 *   expired has fenced itself before (its own clock, with a margin). So when Revoke is acknowledged, no
 *   instance serves the old key.
 */
export interface PostgresRegistryOptions {
  /** libpq-style connection string, e.g. postgres://unwrapd@db:5432/unwrapd?sslmode=verify-full. */
  connectionString: string;
  /** The schema holding unwrapd's tables; created and migrated at open. Default "unwrapd". */
  schema?: string;
  limits?: Partial<RegistryLimits>;
  /** Connections for writes and replays (the feed has its own). Default 4. */
  poolMax?: number;
  /** Past this long cut off from PostgreSQL, the instance is deaf: cache off. Default 5000 ms. */
  feedGraceMs?: number;
  /** The safety-net poll and heartbeat of the feed. Default 1000 ms. */
  feedPollMs?: number;
  /** Reconnect backoff of the feed (doubling, with jitter). Defaults 100 ms and 5000 ms. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** `awaitFleet` waits for the fleet (false: it resolves at once, the acknowledgement is the commit). Default true. */
  fleetAckWait?: boolean;
  /** The instance lease (database clock), its renewal interval, and the self-fencing margin. Defaults 10000, 2000, 2000 ms. */
  fleetLeaseMs?: number;
  fleetRenewMs?: number;
  fleetFenceMarginMs?: number;
  /** The monotonic clock of the lease (ms); default performance.now. Tests inject one. */
  clock?: () => number;
  /** How long to keep trying to reach PostgreSQL at open. Default 10 s. */
  connectTimeoutMs?: number;
  log?: Logger;
}

export const DEFAULT_SCHEMA = 'unwrapd';
const DEFAULT_LIMITS: RegistryLimits = { maxPoliciesPerTenant: 50 };
/** Rows of `instances` not seen for this long are removed at open (crashed instances). */
const STALE_INSTANCE_SECONDS = 24 * 3600;

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

export class PostgresRegistry implements PolicyRegistry {
  readonly description: string;
  readonly schema: string;
  readonly instanceId = randomBytes(8).toString('hex');
  readonly events: PolicyEventLog;
  readonly #o: PostgresRegistryOptions;
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
  readonly #records = new Map<string, PolicyRecord>();
  #sorted: PolicyRecord[] | undefined;
  readonly #listeners = new Set<(record: PolicyRecord) => void>();
  readonly #eventListeners = new Set<(event: PolicyEvent) => void>();
  readonly #closing = new CloseNotifier();
  #pool: pg.Pool | undefined;
  #feed: ChangeFeed | undefined;
  #opened = false;
  #closed = false;
  #migration: MigrationResult | undefined;
  /** The last fleet wait, for tests and benchmarks. */
  lastFleetAck: FleetAck | undefined;

  constructor(opts: PostgresRegistryOptions) {
    this.#o = opts;
    this.schema = opts.schema ?? DEFAULT_SCHEMA;
    this.#q = quoteSchema(this.schema);
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#log = opts.log ?? silentLogger;
    this.#graceMs = opts.feedGraceMs ?? 5_000;
    this.#pollMs = opts.feedPollMs ?? 1_000;
    this.#leaseMs = opts.fleetLeaseMs ?? 10_000;
    this.#renewMs = opts.fleetRenewMs ?? 2_000;
    this.#marginMs = opts.fleetFenceMarginMs ?? 2_000;
    this.#clock = opts.clock ?? (() => performance.now());
    if (this.#leaseMs - this.#marginMs < 2 * this.#renewMs) {
      throw new UnwrapdError('invalid_argument', 'fleetLeaseMs minus fleetFenceMarginMs must leave room for two renewals (2 x fleetRenewMs)');
    }
    if (!Number.isSafeInteger(this.#limits.maxPoliciesPerTenant) || this.#limits.maxPoliciesPerTenant < 1) {
      throw new UnwrapdError('invalid_argument', 'maxPoliciesPerTenant must be a positive integer');
    }
    this.description = `${describeConnection(opts.connectionString)} schema ${this.schema}`;
    this.events = this.#eventLog();
  }

  /** The change feed, as a revocation source (GetStatus shows it; the daemon follows its deafness). */
  get feed(): ChangeFeed {
    if (!this.#feed) throw new UnwrapdError('failed_precondition', `${this.description} is not open`);
    return this.#feed;
  }

  get migration(): MigrationResult | undefined {
    return this.#migration;
  }

  async open(): Promise<void> {
    if (this.#opened || this.#closed) throw new UnwrapdError('failed_precondition', `${this.description} was already opened`);
    this.#opened = true;
    const pool = new pg.Pool({
      connectionString: this.#o.connectionString,
      max: this.#o.poolMax ?? 4,
      application_name: `unwrapd ${this.instanceId}`,
      connectionTimeoutMillis: this.#o.connectTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      query_timeout: 30_000,
    });
    // An idle connection that breaks is dropped by the pool; without a listener the error would be fatal.
    pool.on('error', (err) => this.#log.warn('PostgreSQL pool connection failed', { reason: err.message }));
    this.#pool = pool;
    try {
      const client = await this.#connect(pool);
      try {
        this.#migration = await migrate(client, this.schema);
        if (this.#migration.applied.length > 0) this.#log.info('PostgreSQL schema migrated', { schema: this.schema, applied: this.#migration.applied });
        if (this.#migration.unknown.length > 0) {
          this.#log.warn('PostgreSQL schema has migrations this unwrapd does not know (a newer version applied them)', { unknown: this.#migration.unknown });
        }
        // Register before the snapshot: a revoking writer that commits after this row exists waits for us;
        // one that committed before it is in the snapshot.
        await client.query(`DELETE FROM ${this.#q}.instances WHERE seen_at < now() - make_interval(secs => $1)`, [STALE_INSTANCE_SECONDS]);
        const leaseSentAt = this.#clock();
        await client.query(
          `INSERT INTO ${this.#q}.instances (id, host, pid, applied_sequence, lease_expires_at)
           VALUES ($1, $2, $3, 0, clock_timestamp() + make_interval(secs => $4))`,
          [this.instanceId, hostname(), process.pid, this.#leaseMs / 1000],
        );
        const start = await this.#loadSnapshot(client);
        this.#feed = new ChangeFeed({
          clientConfig: { connectionString: this.#o.connectionString },
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
          reconnectMinMs: this.#o.reconnectMinMs ?? 100,
          reconnectMaxMs: this.#o.reconnectMaxMs ?? 5_000,
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
    return this.#records.get(policyKey(tenant, id));
  }

  list(tenant?: string): PolicyRecord[] {
    this.#requireOpen();
    this.#sorted ??= sortPolicies(this.#records.values());
    return tenant === undefined ? [...this.#sorted] : this.#sorted.filter((p) => p.tenant === tenant);
  }

  async create(record: PolicyRecord): Promise<PolicyRecord> {
    const candidate = freezeRecord(validatePolicyRecord({ ...record, revision: 1 }));
    const key = policyKey(candidate.tenant, candidate.id);
    await this.#write(candidate.tenant, async (client, tenantRows) => {
      if (tenantRows.some((r) => r.id === candidate.id)) throw new UnwrapdError('already_exists', `policy ${key} already exists`);
      if (tenantRows.length >= this.#limits.maxPoliciesPerTenant) {
        throw new UnwrapdError('failed_precondition', `tenant ${candidate.tenant} already has ${tenantRows.length} policies (limit ${this.#limits.maxPoliciesPerTenant})`);
      }
      checkFilesModeGeo(tenantRows, candidate);
      await client.query(`INSERT INTO ${this.#q}.policies (tenant, id, state, revision, record) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
        candidate.tenant,
        candidate.id,
        candidate.state,
        candidate.revision,
        JSON.stringify(candidate),
      ]);
      return { type: 'created', before: undefined };
    }, candidate);
    return candidate;
  }

  async update(record: PolicyRecord, expectedRevision: number): Promise<PolicyRecord> {
    if (!Number.isSafeInteger(expectedRevision) || expectedRevision < 1) {
      throw new UnwrapdError('invalid_argument', 'expectedRevision must be a positive integer');
    }
    const candidate = freezeRecord(validatePolicyRecord({ ...record, revision: expectedRevision + 1 }));
    const key = policyKey(candidate.tenant, candidate.id);
    await this.#write(candidate.tenant, async (client, tenantRows) => {
      const stored = tenantRows.find((r) => r.id === candidate.id);
      if (!stored) throw new UnwrapdError('not_found', `no policy ${key}`);
      if (stored.revision !== expectedRevision) {
        throw new RevisionConflictError(key, expectedRevision, stored.revision);
      }
      checkFilesModeGeo(tenantRows, candidate);
      const before = validatePolicyRecord(stored.record, { code: 'internal', where: `${this.description}: policy ${key}` });
      const res = await client.query(
        `UPDATE ${this.#q}.policies SET state = $3, revision = $4, record = $5::jsonb, updated_at = now()
         WHERE tenant = $1 AND id = $2 AND revision = $6`,
        [candidate.tenant, candidate.id, candidate.state, candidate.revision, JSON.stringify(candidate), expectedRevision],
      );
      if (res.rowCount !== 1) throw new RevisionConflictError(key);
      return { type: eventTypeOf(before, candidate), before };
    }, candidate);
    return candidate;
  }

  onChange(listener: (record: PolicyRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves once every other instance whose lease has not expired (database clock) has applied every
   * event this instance has written or applied; an instance whose lease expires meanwhile is counted out
   * (it fenced itself before, by its own clock). Woken by the acknowledgements' NOTIFY, with a poll as the
   * safety net. Bounded by `signal` and by twice the lease: then it throws FleetUnconfirmedError (the
   * change stays durable and in force). With fleetAckWait=false it resolves at once.
   *
   * Each check touches the rows it judges (an UPDATE that changes nothing), so a renewal racing the check
   * re-evaluates its "lease not expired" condition after it: a lease this check saw expired cannot be
   * renewed by a statement that began before it (the instance re-joins and catches up instead).
   */
  async awaitFleet(signal?: AbortSignal): Promise<FleetAck> {
    const started = performance.now();
    const sequence = Math.max(this.#lastWritten, this.#feed?.lastSequence ?? 0);
    if (!(this.#o.fleetAckWait ?? true)) return { sequence, laggards: [], expired: [], waitedMs: 0 };
    const deadline = started + 2 * this.#leaseMs;
    const legacyWindowS = (this.#graceMs + this.#pollMs) / 1000;
    for (;;) {
      const acksBefore = this.#feed?.acksHeard ?? 0;
      let laggards: string[];
      let expired: string[] = [];
      let nextExpiryMs = Infinity;
      try {
        const res = await this.#requirePool().query<{ id: string; host: string; pid: number; live: boolean; remaining_ms: number | null }>(
          `UPDATE ${this.#q}.instances SET lease_expires_at = lease_expires_at
           WHERE id <> $1 AND applied_sequence < $2
           RETURNING id, host, pid,
             CASE WHEN lease_expires_at IS NULL THEN seen_at > clock_timestamp() - make_interval(secs => $3)
                  ELSE lease_expires_at > clock_timestamp() END AS live,
             (extract(epoch FROM lease_expires_at - clock_timestamp()) * 1000)::float8 AS remaining_ms`,
          [this.instanceId, sequence, legacyWindowS],
        );
        const name = (r: { id: string; host: string; pid: number }) => `${r.id} (${r.host} pid ${r.pid})`;
        laggards = res.rows.filter((r) => r.live).map(name);
        expired = res.rows.filter((r) => !r.live).map(name);
        for (const r of res.rows) if (r.live && r.remaining_ms !== null) nextExpiryMs = Math.min(nextExpiryMs, Math.max(0, r.remaining_ms));
      } catch (err) {
        laggards = [`unknown (${pgMessage(err)})`];
      }
      const now = performance.now();
      const ack: FleetAck = { sequence, laggards, expired, waitedMs: now - started };
      if (laggards.length === 0) {
        this.lastFleetAck = ack;
        return ack;
      }
      if (signal?.aborted || now >= deadline || this.#closed) {
        this.lastFleetAck = ack;
        this.#log.warn('restricting change not confirmed by every live instance in time', { sequence, instances: laggards, waited_ms: Math.round(ack.waitedMs) });
        throw new FleetUnconfirmedError(signal?.aborted ? 'deadline_exceeded' : 'unavailable', ack);
      }
      const feed = this.#feed;
      const wait = Math.min(deadline - now, nextExpiryMs + 1, feed?.listening ? 100 : 10);
      await waitOrAbort(feed?.listening ? (ms) => feed.waitForAck(ms, acksBefore) : (ms) => new Promise((r) => setTimeout(r, ms)), wait, signal);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#feed?.stop();
    const pool = this.#pool;
    if (pool) {
      // Leave the fleet: writers stop waiting for us.
      await pool.query(`DELETE FROM ${this.#q}.instances WHERE id = $1`, [this.instanceId]).catch(() => {});
      await pool.end().catch(() => {});
    }
    this.#closing.close();
    this.#eventListeners.clear();
  }

  async #connect(pool: pg.Pool): Promise<pg.PoolClient> {
    const deadline = Date.now() + (this.#o.connectTimeoutMs ?? 10_000);
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await pool.connect();
      } catch (err) {
        if (Date.now() + delay > deadline) throw err;
        this.#log.debug('PostgreSQL not reachable yet; retrying', { reason: pgMessage(err) });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Loads every policy and the sequence they reflect, in one consistent snapshot. */
  async #loadSnapshot(client: pg.PoolClient): Promise<number> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const seq = await client.query<{ max: string | null }>(`SELECT max(sequence) AS max FROM ${this.#q}.policy_events`);
      const rows = await client.query<{ record: unknown }>(`SELECT record FROM ${this.#q}.policies`);
      await client.query('COMMIT');
      for (const row of rows.rows) {
        const record = freezeRecord(validatePolicyRecord(row.record, { code: 'internal', where: `${this.description}: a stored policy` }));
        this.#records.set(policyKey(record.tenant, record.id), record);
      }
      this.#sorted = undefined;
      return Number(seq.rows[0]?.max ?? 0);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /**
   * One write transaction for one tenant: lock the tenant, read its rows, let `change` check and write,
   * append the event, commit; then adopt the record here at once (this process's onChange), without
   * waiting for the feed.
   */
  async #write(
    tenant: string,
    change: (client: pg.PoolClient, tenantRows: TenantRow[]) => Promise<{ type: PolicyEventType; before: PolicyRecord | undefined }>,
    candidate: PolicyRecord,
  ): Promise<{ sequence: number; restricting: boolean }> {
    this.#requireOpen();
    if (this.#closed) throw new UnwrapdError('unavailable', `${this.description} is closed`);
    const pool = this.#requirePool();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw new UnwrapdError('unavailable', `${this.description}: cannot connect (${pgMessage(err)})`, { cause: err });
    }
    let broken = false;
    let outcome: { sequence: number; restricting: boolean };
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`unwrapd:tenant:${this.schema}:${tenant}`]);
      const rows = await client.query<{ id: string; state: string; revision: string; mode: string | null; geo: string | null; record: unknown }>(
        `SELECT id, state, revision, record->>'mode' AS mode, record->>'geo' AS geo,
                CASE WHEN id = $2 THEN record END AS record
         FROM ${this.#q}.policies WHERE tenant = $1`,
        [tenant, candidate.id],
      );
      const tenantRows: TenantRow[] = rows.rows.map((r) => ({
        id: r.id,
        state: r.state,
        revision: Number(r.revision),
        mode: r.mode ?? '',
        geo: r.geo ?? '',
        record: r.record,
      }));
      const { type, before } = await change(client, tenantRows);
      // Log-wide lock until commit: sequences are handed out in commit order.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`unwrapd:events:${this.schema}`]);
      const ev = await client.query<{ sequence: string }>(
        `WITH e AS (
           INSERT INTO ${this.#q}.policy_events (type, tenant, policy_id, revision) VALUES ($1, $2, $3, $4) RETURNING sequence
         )
         SELECT sequence, pg_notify($5, sequence::text) FROM e`,
        [type, candidate.tenant, candidate.id, candidate.revision, feedChannels(this.schema).events],
      );
      await client.query('COMMIT');
      outcome = { sequence: Number(ev.rows[0]?.sequence ?? 0), restricting: isRestricting(before, candidate) };
      this.#lastWritten = Math.max(this.#lastWritten, outcome.sequence);
    } catch (err) {
      broken = !isUnwrapdError(err);
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (isUnwrapdError(err)) throw err;
      throw new UnwrapdError('unavailable', `${this.description}: write failed (${pgMessage(err)})`, { cause: err });
    } finally {
      client.release(broken);
    }
    if (this.#adopt(candidate)) this.#notify(candidate);
    return outcome;
  }

  /** Applies a batch of feed events: reloads the records they name and notifies the changed ones. */
  async #apply(events: PolicyEvent[], client: pg.ClientBase): Promise<void> {
    const keys = new Map<string, { tenant: string; id: string }>();
    for (const e of events) keys.set(policyKey(e.tenant, e.policyId), { tenant: e.tenant, id: e.policyId });
    const tenants = [...keys.values()].map((k) => k.tenant);
    const ids = [...keys.values()].map((k) => k.id);
    const res = await client.query<{ record: unknown }>(
      `SELECT p.record FROM ${this.#q}.policies p JOIN unnest($1::text[], $2::text[]) AS k(tenant, id) ON p.tenant = k.tenant AND p.id = k.id`,
      [tenants, ids],
    );
    const changed: PolicyRecord[] = [];
    for (const row of res.rows) {
      let record: PolicyRecord;
      try {
        record = freezeRecord(validatePolicyRecord(row.record, { code: 'internal', where: `${this.description}: a stored policy` }));
      } catch (err) {
        // A corrupt row is reported and skipped; a revocation event for it still evicts (the feed's onRevoked).
        this.#log.error('a stored policy failed validation; keeping the copy in memory', { error: err instanceof Error ? err : String(err) });
        continue;
      }
      if (this.#adopt(record)) changed.push(record);
    }
    for (const record of changed) this.#notify(record);
    for (const e of events) {
      for (const l of this.#eventListeners) {
        try {
          l(e);
        } catch {
          // One watcher's failure is its own.
        }
      }
    }
  }

  /**
   * A full reload after the log went backwards: every record is taken as stored (even at a lower revision
   * than the one in memory: the database is the truth), and every record that differs is notified.
   */
  async #resync(client: pg.ClientBase): Promise<number> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let rows: Array<{ record: unknown }>;
    let max: number;
    try {
      max = Number((await client.query<{ max: string | null }>(`SELECT max(sequence) AS max FROM ${this.#q}.policy_events`)).rows[0]?.max ?? 0);
      rows = (await client.query<{ record: unknown }>(`SELECT record FROM ${this.#q}.policies`)).rows;
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    const changed: PolicyRecord[] = [];
    const stored = new Set<string>();
    for (const row of rows) {
      const record = freezeRecord(validatePolicyRecord(row.record, { code: 'internal', where: `${this.description}: a stored policy` }));
      const key = policyKey(record.tenant, record.id);
      stored.add(key);
      const current = this.#records.get(key);
      if (current && JSON.stringify(current) === JSON.stringify(record)) continue;
      this.#records.set(key, record);
      changed.push(record);
    }
    // A policy whose creation was lost is gone (policies are never deleted otherwise).
    for (const key of [...this.#records.keys()]) if (!stored.has(key)) this.#records.delete(key);
    this.#sorted = undefined;
    for (const record of changed) this.#notify(record);
    return max;
  }

  /** Takes a record into memory when it is newer than what is there. */
  #adopt(record: PolicyRecord): boolean {
    const key = policyKey(record.tenant, record.id);
    const current = this.#records.get(key);
    if (current && current.revision >= record.revision) return false;
    this.#records.set(key, record);
    this.#sorted = undefined;
    return true;
  }

  #notify(record: PolicyRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch (err) {
        this.#log.error(`${this.description}: an onChange listener threw`, { error: err instanceof Error ? err : String(err) });
      }
    }
  }

  #eventLog(): PolicyEventLog {
    return {
      scope: 'fleet',
      lastSequence: () => this.#feed?.lastSequence ?? 0,
      replay: async (after, { tenant, limit }) => {
        const res = await this.#requirePool()
          .query<PolicyEventRow>(
            `SELECT ${EVENT_COLUMNS} FROM ${this.#q}.policy_events
             WHERE sequence > $1 AND ($2::text IS NULL OR tenant = $2) ORDER BY sequence LIMIT $3`,
            [after, tenant ?? null, limit],
          )
          .catch((err: unknown) => {
            throw new UnwrapdError('unavailable', `${this.description}: cannot read the event log (${pgMessage(err)})`, { cause: err });
          });
        return res.rows.map(eventFromRow);
      },
      subscribe: (listener) => {
        this.#eventListeners.add(listener);
        return () => this.#eventListeners.delete(listener);
      },
      onClose: (listener) => this.#closing.onClose(listener),
    };
  }

  #requireOpen(): void {
    if (!this.#pool && !this.#closed) throw new UnwrapdError('failed_precondition', `${this.description} is not open`);
  }

  #requirePool(): pg.Pool {
    if (!this.#pool) throw new UnwrapdError('unavailable', `${this.description} is not open`);
    return this.#pool;
  }
}

/** Waits `ms` through `wait`, or until `signal` aborts. */
async function waitOrAbort(wait: (ms: number) => Promise<unknown>, ms: number, signal: AbortSignal | undefined): Promise<void> {
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

export function createPostgresRegistry(opts: PostgresRegistryOptions): PostgresRegistry {
  return new PostgresRegistry(opts);
}

interface TenantRow {
  id: string;
  state: string;
  revision: number;
  mode: string;
  geo: string;
  /** Only for the policy being written. */
  record: unknown;
}

/** `files` mode (the SharePoint rule): at most one policy per tenant per geo that is not purged. */
function checkFilesModeGeo(rows: readonly TenantRow[], candidate: PolicyRecord): void {
  if (candidate.mode !== 'files' || candidate.state === 'purged') return;
  for (const r of rows) {
    if (r.id !== candidate.id && r.mode === 'files' && r.geo === candidate.geo && r.state !== 'purged') {
      throw new UnwrapdError('failed_precondition', `tenant ${candidate.tenant} already has files-mode policy ${r.id} for geo ${candidate.geo}`);
    }
  }
}

/** Sorted by tenant then id, by code unit (ids are ASCII), as every backend sorts. */
function sortPolicies(records: Iterable<PolicyRecord>): PolicyRecord[] {
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...records].sort((a, b) => compare(a.tenant, b.tenant) || compare(a.id, b.id));
}

function freezeRecord(record: PolicyRecord): PolicyRecord {
  const deepFreeze = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  };
  deepFreeze(record);
  return record;
}

/**
 * The connection string without its password, for logs and GetStatus: postgres://user@host:port/db.
 * A keyword/value string (host=... password=...) is shown only by its host and database.
 */
export function describeConnection(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error('not a URL');
    const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
    const host = url.host || url.searchParams.get('host') || 'localhost';
    return `postgres://${user}${host}${url.pathname}`;
  } catch {
    const field = (name: string) => new RegExp(`(?:^|\\s)${name}\\s*=\\s*('([^']*)'|\\S+)`).exec(connectionString);
    const value = (m: RegExpExecArray | null) => (m ? (m[2] ?? m[1] ?? '') : '');
    return `postgres://${value(field('host')) || 'localhost'}/${value(field('dbname'))}`;
  }
}

/** A driver or server error as text safe to log: its message, which names no password or record content. */
export function pgMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.message} [${code}]` : err.message;
  }
  return String(err);
}
