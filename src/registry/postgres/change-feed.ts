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
 * (the safety net for a lost notification, and the heartbeat), and records in `<schema>.instances` what
 * this instance has applied, so that a revoking writer can wait for the fleet.
 *
 * Deafness: when the connection is lost, or silent, for longer than `graceMs`, the feed declares itself
 * deaf (listeners turn the key cache off). It comes back only once it has reconnected AND applied every
 * event it missed, in order.
 */
export interface ChangeFeedOptions {
  clientConfig: pg.ClientConfig;
  schema: string;
  instanceId: string;
  /** The sequence the snapshot loaded at open covers: events after it are applied by the feed. */
  startSequence: number;
  graceMs: number;
  pollMs: number;
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
  /** performance.now() when the last successful round trip was sent. */
  #lastHeard = performance.now();
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

  constructor(opts: ChangeFeedOptions) {
    this.#o = opts;
    this.#q = quoteSchema(opts.schema);
    this.#channels = feedChannels(opts.schema);
    this.#lastSequence = opts.startSequence;
    this.#backoffMs = opts.reconnectMinMs;
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
    this.#tickTimer = setInterval(() => this.#tick(), this.#o.pollMs);
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
    const queryTimeout = Math.max(500, Math.min(this.#o.graceMs / 2, 5_000));
    const client = new pg.Client({
      ...this.#o.clientConfig,
      application_name: this.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1_000,
      query_timeout: queryTimeout,
      connectionTimeoutMillis: Math.max(1_000, Math.min(this.#o.graceMs, 10_000)),
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

  /** Heartbeat, and the acknowledgement of what this instance has applied (announced when it moved). */
  async #report(client: pg.Client): Promise<void> {
    const sent = performance.now();
    const moved = this.#lastSequence !== this.#ackedSequence;
    const applied = this.#lastSequence;
    // One round trip: the heartbeat, and (when it moved) the announcement of what was applied.
    await client.query(
      `WITH i AS (
         INSERT INTO ${this.#q}.instances AS i (id, host, pid, applied_sequence) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET seen_at = now(), applied_sequence = GREATEST(i.applied_sequence, EXCLUDED.applied_sequence)
         RETURNING 1
       )
       SELECT CASE WHEN $5::boolean THEN pg_notify($6, $7) END FROM i`,
      [this.#o.instanceId, hostname(), process.pid, applied, moved, this.#channels.acks, `${this.#o.instanceId} ${applied}`],
    );
    this.#ackedSequence = applied;
    this.#heard(sent);
  }

  #heard(sentAt: number): void {
    if (sentAt > this.#lastHeard) this.#lastHeard = sentAt;
  }

  #tick(): void {
    if (this.#stopped) return;
    const client = this.#client;
    if (client && this.#state === 'connected') this.#drain().catch((err: unknown) => this.#lost(client, err));
    if (!this.#deaf && performance.now() - this.#lastHeard > this.#o.graceMs) {
      // Connected in name but silent past the grace period (a black-holed connection): treat as lost.
      if (client) this.#lost(client, new Error(`no answer for ${this.#o.graceMs} ms`));
      else this.#goDeaf();
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
    if (!this.#deaf) this.#state = 'disconnected';
    this.#armDeafTimer();
    this.#scheduleReconnect();
  }

  #armDeafTimer(): void {
    if (this.#deaf || this.#deafTimer) return;
    const remaining = this.#lastHeard + this.#o.graceMs - performance.now();
    this.#deafTimer = setTimeout(() => {
      this.#deafTimer = undefined;
      if (this.#state !== 'connected') this.#goDeaf();
    }, Math.max(0, remaining));
    this.#deafTimer.unref();
  }

  #goDeaf(): void {
    if (this.#deaf || this.#stopped) return;
    this.#deaf = true;
    this.#state = 'deaf';
    this.#o.log.warn('revocation feed deaf past its grace period: cache off, serving only fresh unwraps until it is back and caught up', {
      grace_ms: this.#o.graceMs,
      last_sequence: this.#lastSequence,
    });
    this.#emitDeaf(true);
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
      this.#tickTimer = setInterval(() => this.#tick(), this.#o.pollMs);
      this.#tickTimer.unref();
    }
    if (this.#deaf) {
      this.#deaf = false;
      this.#o.log.info('revocation feed back and caught up: cache on again', { last_sequence: this.#lastSequence });
      this.#emitDeaf(false);
    } else {
      this.#o.log.info('revocation feed reconnected and caught up', { last_sequence: this.#lastSequence });
    }
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
