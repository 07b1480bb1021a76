import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Logger } from '../../log/logger.js';
import type { RevocationEvent, RevocationSource, RevocationSourceState } from '../../revocation/revocation-source.js';
import type { PolicyEvent } from '../policy-events.js';
import { quoteSchema } from './migrate.js';
import { EVENT_COLUMNS, eventFromRow, type PolicyEventRow } from './event-row.js';

/**
 * The PostgreSQL change feed of one instance: a dedicated connection that LISTENs for the sequence numbers
 * writers NOTIFY, reads the event log in order from the last sequence it applied, and hands each batch to
 * the registry (which reloads the records and fires onChange). The same connection runs a periodic poll
 * (the safety net for a lost notification), and records in `<schema>.instances` what this instance has
 * applied, so that a revoking writer can wait for the fleet.
 *
 * The lease: the same connection renews this instance's lease (`lease_expires_at`, set by the database
 * clock) every `renewMs`, always right after reading the log, so a live lease means "this instance hears
 * the feed". A renewal only extends a lease that has not expired; one that finds it expired (a writer may
 * have counted this instance out) re-joins: register a fresh lease, read the log, renew, and only then
 * serve again. By its own monotonic clock the instance fences itself `fenceMarginMs` before its lease
 * runs out, measured from the *send* time of its last successful renewal (the database set the expiry
 * later than that), and `fenced()` is checked synchronously before every key use, so a late timer or a
 * blocked event loop cannot stretch the lease.
 *
 * Deafness: when the connection is lost, or silent, for longer than `graceMs`, or the lease lapses, the
 * feed declares itself deaf (the daemon refuses every request, or with `deafServeUncached` turns the key
 * cache off). It comes back only once it has reconnected, applied every event it missed, in order, and
 * renewed its lease.
 */
export interface ChangeFeedOptions {
  clientConfig: pg.ClientConfig;
  schema: string;
  instanceId: string;
  /** The sequence the snapshot loaded at open covers: events after it are applied by the feed. */
  startSequence: number;
  graceMs: number;
  pollMs: number;
  /** The lease length (database clock), its renewal interval, and how long before its end the instance fences itself. */
  leaseMs: number;
  renewMs: number;
  fenceMarginMs: number;
  /** Clock value when the registration (the first lease) was sent. */
  leaseSentAt: number;
  /** The monotonic clock (ms) of the lease and self-fencing; default performance.now. Tests inject one. */
  clock?: () => number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Applies a batch of events, in order, using the feed's connection to load the records they name. */
  apply(events: PolicyEvent[], client: pg.ClientBase): Promise<void>;
  /**
   * Reloads every record from scratch and returns the sequence the reload covers. Used when the log is
   * behind what this instance applied (a failover to a replica that had not received the last events):
   * sequence numbers may then be handed out again, so "after n" no longer means "new".
   */
  resync(client: pg.ClientBase): Promise<number>;
  log: Logger;
}

export type FeedState = 'connecting' | 'connected' | 'disconnected' | 'deaf';

const PAGE = 500;

export function feedChannels(schema: string): { events: string; acks: string } {
  return { events: `unwrapd:events:${schema}`, acks: `unwrapd:acks:${schema}` };
}

export class ChangeFeed implements RevocationSource {
  readonly name = 'postgres-feed';
  readonly #o: ChangeFeedOptions;
  readonly #q: string;
  readonly #channels: { events: string; acks: string };
  #state: FeedState = 'connecting';
  #deaf = false;
  #lastSequence: number;
  #ackedSequence = -1;
  #lastEventAt: string | undefined;
  #client: pg.Client | undefined;
  /** performance.now() when the last successful round trip was sent (deafness is measured from it). */
  #lastHeard = performance.now();
  /** performance.now() when the last answer arrived (silence, a black-holed connection, is measured from it). */
  #lastAnswer = performance.now();
  #backoffMs: number;
  #tickTimer: NodeJS.Timeout | undefined;
  #deafTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #drainAgain = false;
  #stopped = false;
  readonly #revoked = new Set<(event: RevocationEvent) => void>();
  readonly #deafListeners = new Set<(deaf: boolean) => void>();
  readonly #ackWaiters = new Set<() => void>();
  #acksHeard = 0;
  readonly #torn = new WeakSet<pg.Client>();
  readonly #clock: () => number;
  /** Clock value when the last successful renewal was sent; -Infinity while the lease must be re-joined. */
  #leaseSentAt: number;
  #leaseHeld = true;
  #leaseTimer: NodeJS.Timeout | undefined;
  #deafReason = '';

  constructor(opts: ChangeFeedOptions) {
    this.#o = opts;
    this.#q = quoteSchema(opts.schema);
    this.#channels = feedChannels(opts.schema);
    this.#lastSequence = opts.startSequence;
    this.#backoffMs = opts.reconnectMinMs;
    this.#clock = opts.clock ?? (() => performance.now());
    this.#leaseSentAt = opts.leaseSentAt;
  }

  /**
   * Why this instance must not serve now, or undefined: deaf, lease lost, or past its own lease deadline
   * (lease minus margin from the send time of the last renewal). Synchronous; checked before every key use.
   */
  fenced(): string | undefined {
    if (this.#stopped) return 'stopped';
    if (this.#deaf) return this.#deafReason;
    if (!this.#leaseHeld) return 'lease lost';
    if (this.#clock() >= this.#leaseDeadline()) return 'lease not renewed in time';
    return undefined;
  }

  #leaseDeadline(): number {
    return this.#leaseSentAt + this.#o.leaseMs - this.#o.fenceMarginMs;
  }

  /** Connects, listens and catches up; throws when it cannot (the registry's open fails). */
  async open(): Promise<void> {
    const client = await this.#connectClient();
    try {
      await this.#drain();
    } catch (err) {
      this.#teardown(client);
      throw err;
    }
    this.#state = 'connected';
    this.#tickTimer = setInterval(() => this.#tick(), Math.min(this.#o.pollMs, this.#o.renewMs));
    this.#tickTimer.unref();
  }

  // RevocationSource: the registry's onChange already evicts revoked policies; this also reports each
  // revoked/purged event to whoever starts the source (belt and braces, and one place for metrics).
  async start(onRevoked: (event: RevocationEvent) => void): Promise<void> {
    this.#revoked.add(onRevoked);
  }

  state(): RevocationSourceState {
    const state = this.#deaf ? 'deaf' : this.#state === 'connected' ? 'connected' : 'disconnected';
    return { state, lastSequence: this.#lastSequence, ...(this.#lastEventAt ? { lastEventAt: this.#lastEventAt } : {}) };
  }

  onDeafChange(listener: (deaf: boolean) => void): () => void {
    this.#deafListeners.add(listener);
    return () => this.#deafListeners.delete(listener);
  }

  get lastSequence(): number {
    return this.#lastSequence;
  }

  get deaf(): boolean {
    return this.#deaf;
  }

  /** How many acknowledgements this feed has heard: take it before a check, pass it to waitForAck. */
  get acksHeard(): number {
    return this.#acksHeard;
  }

  /**
   * Resolves once an acknowledgement newer than `seen` (a value of acksHeard) has arrived, or after `ms`.
   * Passing the count read before the check closes the race with an ack that arrives in between.
   */
  waitForAck(ms: number, seen = this.#acksHeard): Promise<void> {
    if (this.#acksHeard !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#ackWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#ackWaiters.add(done);
    });
  }

  /** Whether acknowledgements arrive as notifications now (otherwise a waiter should poll). */
  get listening(): boolean {
    return this.#client !== undefined && this.#state === 'connected';
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tickTimer);
    clearTimeout(this.#deafTimer);
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#leaseTimer);
    for (const w of [...this.#ackWaiters]) w();
    const client = this.#client;
    this.#client = undefined;
    if (client && !this.#torn.has(client)) {
      this.#torn.add(client);
      for (const event of ['notification', 'end', 'error'] as const) client.removeAllListeners(event);
      client.on('error', () => {});
      await this.#endClient(client);
    }
  }

  /** For tests: the feed's connection, as PostgreSQL sees it. */
  get applicationName(): string {
    return `unwrapd-feed ${this.#o.instanceId}`;
  }

  async #connectClient(): Promise<pg.Client> {
    // Generous: a slow answer on a busy machine is not a lost connection (replacing it costs more); safety
    // does not depend on these timeouts (the lease deadline and the deaf timer run from send times).
    const queryTimeout = Math.max(500, Math.min(this.#o.graceMs, 10_000));
    const client = new pg.Client({
      ...this.#o.clientConfig,
      application_name: this.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1_000,
      query_timeout: queryTimeout,
      connectionTimeoutMillis: Math.max(2_000, Math.min(2 * this.#o.graceMs, 10_000)),
    });
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, new Error('connection closed')));
    client.on('notification', (n) => this.#onNotification(client, n));
    const sent = performance.now();
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channels.events}"`);
      await client.query(`LISTEN "${this.#channels.acks}"`);
    } catch (err) {
      this.#teardown(client);
      throw err;
    }
    this.#heard(sent);
    this.#client = client;
    return client;
  }

  #onNotification(client: pg.Client, n: pg.Notification): void {
    if (client !== this.#client) return;
    if (n.channel === this.#channels.acks) {
      this.#acksHeard++;
      for (const w of [...this.#ackWaiters]) w();
      return;
    }
    if (n.channel === this.#channels.events) {
      const announced = Number(n.payload);
      if (Number.isFinite(announced) && announced <= this.#lastSequence) return;
      this.#drain().catch((err: unknown) => this.#lost(client, err));
    }
  }

  /** Applies every event after the last applied one; concurrent calls share one run, which repeats if asked again. */
  #drain(): Promise<void> {
    if (this.#draining) {
      this.#drainAgain = true;
      return this.#draining;
    }
    const run = (async () => {
      try {
        do {
          this.#drainAgain = false;
          const client = this.#client;
          try {
            await this.#drainOnce(client);
          } catch (err) {
            // A run that failed on a connection already replaced goes again on the new one.
            if (this.#client && this.#client !== client) {
              this.#drainAgain = true;
              continue;
            }
            throw err;
          }
        } while (this.#drainAgain && !this.#stopped);
      } finally {
        this.#draining = undefined;
      }
    })();
    this.#draining = run;
    return run;
  }

  async #drainOnce(client: pg.Client | undefined): Promise<void> {
    if (!client) throw new Error('not connected');
    // Re-join before reading: a writer committing after the registration waits for us; one that committed
    // before it is in the read below.
    if (!this.#leaseHeld) await this.#register(client);
    for (;;) {
      const sent = performance.now();
      const res = await client.query<PolicyEventRow>(
        `SELECT ${EVENT_COLUMNS} FROM ${this.#q}.policy_events WHERE sequence > $1 ORDER BY sequence LIMIT ${PAGE}`,
        [this.#lastSequence],
      );
      this.#heard(sent);
      if (res.rows.length === 0) break;
      const events: PolicyEvent[] = res.rows.map(eventFromRow);
      await this.#o.apply(events, client);
      const last = events[events.length - 1]!;
      this.#lastSequence = last.sequence;
      this.#lastEventAt = last.at;
      for (const e of events) {
        if (e.type !== 'revoked' && e.type !== 'purged') continue;
        const event: RevocationEvent = { tenant: e.tenant, policyId: e.policyId, reason: `${e.type} (sequence ${e.sequence})`, source: this.name };
        for (const l of this.#revoked) {
          try {
            l(event);
          } catch (err) {
            this.#o.log.error('a revocation listener threw', { error: err instanceof Error ? err : String(err) });
          }
        }
      }
      if (res.rows.length < PAGE) break;
    }
    await this.#report(client);
  }

  /**
   * Renews the lease (when due, or when deaf) and records what this instance has applied (announced with
   * NOTIFY when it moved), in one round trip. Called only right after the log was read to its end. The
   * renewal only extends a lease the database has not seen expire; otherwise the lease is lost: fenced,
   * and the next drain re-joins.
   */
  async #report(client: pg.Client): Promise<void> {
    const sent = this.#clock();
    const heardSent = performance.now();
    const applied = this.#lastSequence;
    const moved = applied !== this.#ackedSequence;
    if (!moved && !this.#deaf && sent - this.#leaseSentAt < this.#o.renewMs) return;
    const res = await client.query<{ renewed: number }>(
      `WITH i AS (
         UPDATE ${this.#q}.instances
         SET seen_at = now(), lease_expires_at = clock_timestamp() + make_interval(secs => $3), applied_sequence = GREATEST(applied_sequence, $2)
         WHERE id = $1 AND lease_expires_at > clock_timestamp()
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM i)::int AS renewed, CASE WHEN $4::boolean THEN pg_notify($5, $6) END AS notified`,
      [this.#o.instanceId, applied, this.#o.leaseMs / 1000, moved, this.#channels.acks, `${this.#o.instanceId} ${applied}`],
    );
    this.#heard(heardSent);
    if (Number(res.rows[0]?.renewed ?? 0) !== 1) {
      this.#leaseHeld = false;
      this.#leaseSentAt = -Infinity;
      this.#o.log.warn('instance lease expired before it was renewed: fenced; re-joining the fleet and catching up', { last_sequence: applied });
      this.#goDeaf('lease expired');
      this.#drainAgain = true;
      return;
    }
    this.#ackedSequence = applied;
    this.#leaseSentAt = sent;
    this.#armLeaseTimer();
    if (this.#deaf && this.#state === 'connected' && client === this.#client) this.#lift();
  }

  /** A fresh lease (and the row, if it was removed), unconditionally: the re-join after a lost lease. */
  async #register(client: pg.Client): Promise<void> {
    await client.query(
      `INSERT INTO ${this.#q}.instances AS i (id, host, pid, applied_sequence, lease_expires_at)
       VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))
       ON CONFLICT (id) DO UPDATE SET seen_at = now(), lease_expires_at = EXCLUDED.lease_expires_at,
         applied_sequence = GREATEST(i.applied_sequence, EXCLUDED.applied_sequence)`,
      [this.#o.instanceId, hostname(), process.pid, this.#lastSequence, this.#o.leaseMs / 1000],
    );
    // Still fenced (no deadline in hand) until the read that follows and a renewal succeed.
    this.#leaseSentAt = -Infinity;
    this.#leaseHeld = true;
  }

  /** Marks the instance deaf when its own lease deadline passes without a renewal (for health and the cache). */
  #armLeaseTimer(): void {
    clearTimeout(this.#leaseTimer);
    if (this.#stopped) return;
    this.#leaseTimer = setTimeout(() => {
      this.#leaseTimer = undefined;
      if (this.#clock() >= this.#leaseDeadline()) this.#goDeaf(`lease not renewed within ${this.#o.leaseMs - this.#o.fenceMarginMs} ms`);
      else this.#armLeaseTimer();
    }, Math.max(10, this.#leaseDeadline() - this.#clock()));
    this.#leaseTimer.unref();
  }

  #heard(sentAt: number): void {
    if (sentAt > this.#lastHeard) this.#lastHeard = sentAt;
    this.#lastAnswer = performance.now();
  }

  #tick(): void {
    if (this.#stopped) return;
    const client = this.#client;
    if (client && this.#state === 'connected') this.#drain().catch((err: unknown) => this.#lost(client, err));
    if (performance.now() - this.#lastAnswer > this.#o.graceMs) {
      // Connected in name but silent past the grace period (a black-holed connection): treat as lost.
      // Measured from the last answer, so a connection that answers slowly (a saturated machine) is kept.
      if (client) this.#lost(client, new Error(`no answer for ${this.#o.graceMs} ms`));
      else this.#goDeaf(`no answer for ${this.#o.graceMs} ms`);
    }
  }

  #lost(client: pg.Client, err: unknown): void {
    if (client !== this.#client || this.#stopped) {
      this.#teardown(client);
      return;
    }
    this.#client = undefined;
    this.#teardown(client);
    if (this.#state === 'connected') {
      this.#o.log.warn('revocation feed lost; reconnecting', { reason: describe(err), grace_ms: this.#o.graceMs, last_sequence: this.#lastSequence });
    }
    this.#state = 'disconnected';
    this.#armDeafTimer();
    this.#scheduleReconnect();
  }

  #armDeafTimer(): void {
    if (this.#deaf || this.#deafTimer) return;
    const remaining = this.#lastHeard + this.#o.graceMs - performance.now();
    this.#deafTimer = setTimeout(() => {
      this.#deafTimer = undefined;
      if (this.#state !== 'connected') this.#goDeaf(`cut off for more than ${this.#o.graceMs} ms`);
    }, Math.max(0, remaining));
    this.#deafTimer.unref();
  }

  #goDeaf(reason: string): void {
    if (this.#deaf || this.#stopped) return;
    this.#deaf = true;
    this.#deafReason = reason;
    this.#o.log.warn('revocation feed lost: this instance is fenced until the feed is back, caught up and its lease renewed', {
      reason,
      grace_ms: this.#o.graceMs,
      last_sequence: this.#lastSequence,
    });
    this.#emitDeaf(true);
  }

  #lift(): void {
    if (!this.#deaf) return;
    this.#deaf = false;
    this.#deafReason = '';
    this.#o.log.info('revocation feed back, caught up and lease renewed: serving again', { last_sequence: this.#lastSequence });
    this.#emitDeaf(false);
  }

  #emitDeaf(deaf: boolean): void {
    for (const l of this.#deafListeners) {
      try {
        l(deaf);
      } catch (err) {
        this.#o.log.error('a feed-state listener threw', { error: err instanceof Error ? err : String(err) });
      }
    }
  }

  #scheduleReconnect(): void {
    if (this.#reconnectTimer || this.#stopped) return;
    const delay = this.#backoffMs * (0.5 + Math.random() / 2);
    this.#backoffMs = Math.min(this.#o.reconnectMaxMs, this.#backoffMs * 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#reconnect();
    }, delay);
    this.#reconnectTimer.unref();
  }

  async #reconnect(): Promise<void> {
    if (this.#stopped || this.#client) return;
    let client: pg.Client;
    try {
      client = await this.#connectClient();
    } catch (err) {
      this.#o.log.debug('revocation feed: reconnect failed', { reason: describe(err) });
      this.#armDeafTimer();
      this.#scheduleReconnect();
      return;
    }
    if (this.#stopped) {
      this.#teardown(client);
      return;
    }
    try {
      // Catch up before anything else: a revocation missed while away is applied before the cache is back.
      const max = await client.query<{ max: string | null }>(`SELECT max(sequence) AS max FROM ${this.#q}.policy_events`);
      const logEnd = Number(max.rows[0]?.max ?? 0);
      if (logEnd < this.#lastSequence) {
        this.#o.log.warn('the event log ends before the last event this instance applied (failover with lost commits?): reloading every policy', {
          log_end: logEnd,
          last_sequence: this.#lastSequence,
        });
        this.#lastSequence = await this.#o.resync(client);
        // Sequence numbers will be handed out again: what this instance reports as applied goes down with them.
        await client.query(`UPDATE ${this.#q}.instances SET applied_sequence = $2 WHERE id = $1`, [this.#o.instanceId, this.#lastSequence]);
        this.#ackedSequence = this.#lastSequence;
      }
      await this.#drain();
    } catch (err) {
      this.#lost(client, err);
      return;
    }
    if (client !== this.#client) return;
    this.#backoffMs = this.#o.reconnectMinMs;
    clearTimeout(this.#deafTimer);
    this.#deafTimer = undefined;
    this.#state = 'connected';
    if (!this.#tickTimer) {
      this.#tickTimer = setInterval(() => this.#tick(), Math.min(this.#o.pollMs, this.#o.renewMs));
      this.#tickTimer.unref();
    }
    // The drain above read the log to its end and renewed the lease (a lost one was re-joined first).
    if (this.#deaf && this.#leaseHeld && this.#clock() < this.#leaseDeadline()) this.#lift();
    else if (!this.#deaf) this.#o.log.info('revocation feed reconnected and caught up', { last_sequence: this.#lastSequence });
  }

  /** Drops a connection without waiting on it (it may be black-holed). Once per connection. */
  #teardown(client: pg.Client): void {
    if (this.#torn.has(client)) return;
    this.#torn.add(client);
    for (const event of ['notification', 'end', 'error'] as const) client.removeAllListeners(event);
    client.on('error', () => {});
    void this.#endClient(client);
  }

  async #endClient(client: pg.Client): Promise<void> {
    const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    const ended = client.end().catch(() => {});
    const timer = setTimeout(() => stream?.destroy(), 1_000);
    timer.unref();
    await ended;
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
