import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { RegistryChangeFeed, RegistryFeedState } from '../change-feed.js';
import type { PolicyEvent } from '../policy-events.js';
import { AckSignal } from './ack-signal.js';
import { eventFromRow } from './event-row.js';
import { FeedDeafness, FeedHearing } from './feed-deafness.js';
import { FeedListeners } from './feed-listeners.js';
import { FeedLease } from './feed-lease.js';
import { dropConnection, openFeedConnection } from './feed-connection.js';
import { readEventsAfter, rejoinInstance, renewLease } from './instance-sql.js';
import { ReconnectTimer, resyncIfLogShrank } from './feed-reconnect.js';
import { feedChannels, type ChangeFeedOptions, type FeedState } from './feed-options.js';
import { quoteSchema } from './migrate.js';
import { pgMessage } from './pg-text.js';
import { RepeatingRun } from './repeating-run.js';

/** Events read from the log per query. */
const PAGE = 500;

/**
 * The PostgreSQL change feed of one instance: a dedicated connection that LISTENs for the sequence numbers
 * writers NOTIFY, reads the event log in order from the last sequence it applied, and hands each batch to
 * the registry (which reloads the records and fires onChange). The same connection runs a periodic poll
 * (the safety net for a lost notification), and records in `<schema>.instances` what this instance has
 * applied, so that a revoking writer can wait for the fleet.
 *
 * The lease (feed-lease.ts): the same connection renews this instance's lease every `renewMs`, always
 * right after reading the log, so a live lease means "this instance hears the feed". Deafness
 * (feed-deafness.ts): cut off or silent past `graceMs`, or the lease lapsed; it ends only once the feed has
 * reconnected, applied every event it missed, in order, and renewed its lease. Reconnecting (backoff, a log
 * that shrank in a failover): feed-reconnect.ts.
 */
export class ChangeFeed implements RegistryChangeFeed {
  readonly name = 'postgres-feed';
  readonly #opts: ChangeFeedOptions;
  readonly #q: string;
  readonly #channels: { events: string; acks: string };
  #state: FeedState = 'connecting';
  #lastSequence: number;
  #ackedSequence = -1;
  #lastEventAt: string | undefined;
  #client: pg.Client | undefined;
  readonly #hearing = new FeedHearing();
  #tickTimer: NodeJS.Timeout | undefined;
  readonly #reconnectTimer: ReconnectTimer;
  readonly #drainRun = new RepeatingRun(
    () => this.#drainStep(),
    () => this.#stopped,
  );
  #stopped = false;
  readonly #listeners: FeedListeners;
  readonly #deafness: FeedDeafness;
  readonly #lease: FeedLease;
  readonly #acks = new AckSignal();
  readonly #clock: () => number;

  constructor(opts: ChangeFeedOptions) {
    this.#opts = opts;
    this.#q = quoteSchema(opts.schema);
    this.#channels = feedChannels(opts.schema);
    this.#lastSequence = opts.startSequence;
    this.#reconnectTimer = new ReconnectTimer(opts.reconnectMinMs, opts.reconnectMaxMs);
    this.#clock = opts.clock ?? (() => performance.now());
    this.#deafness = new FeedDeafness(opts.log);
    this.#listeners = new FeedListeners(opts.log);
    const { leaseMs, renewMs, fenceMarginMs, leaseSentAt } = opts;
    this.#lease = new FeedLease({
      leaseMs,
      renewMs,
      fenceMarginMs,
      clock: this.#clock,
      sentAt: leaseSentAt,
      onLapse: (reason) => this.#goDeaf(reason),
    });
  }

  /**
   * Why this instance must not serve now, or undefined: deaf, lease lost, or past its own lease deadline
   * (lease minus margin from the send time of the last renewal). Synchronous; checked before every key use.
   */
  fenced(): string | undefined {
    if (this.#stopped) return 'stopped';
    if (this.#deafness.deaf) return this.#deafness.reason;
    return this.#lease.fenced();
  }

  /** Connects, listens and catches up; throws when it cannot (the registry's open fails). */
  async open(): Promise<void> {
    const client = await this.#connectClient();
    try {
      await this.#drain();
    } catch (err) {
      void dropConnection(client);
      throw err;
    }
    this.#state = 'connected';
    this.#startTicking();
  }

  /** The poll (the safety net for a lost notification) and the lease renewal share one timer. */
  #startTicking(): void {
    this.#tickTimer = setInterval(() => this.#tick(), Math.min(this.#opts.pollMs, this.#opts.renewMs));
    this.#tickTimer.unref();
  }

  onEvents(listener: (events: readonly PolicyEvent[]) => void): () => void {
    return this.#listeners.add(listener);
  }

  state(): RegistryFeedState {
    const state = this.#deafness.deaf ? 'deaf' : this.#state === 'connected' ? 'connected' : 'disconnected';
    return {
      state,
      lastSequence: this.#lastSequence,
      ...(this.#lastEventAt ? { lastEventAt: this.#lastEventAt } : {}),
    };
  }

  onDeafChange(listener: (deaf: boolean) => void): () => void {
    return this.#deafness.onChange(listener);
  }

  get lastSequence(): number {
    return this.#lastSequence;
  }

  /** How many acknowledgements this feed has heard: take it before a check, pass it to waitForAck. */
  get acksHeard(): number {
    return this.#acks.heard;
  }

  /** Resolves once an acknowledgement newer than `seen` (a value of acksHeard) has arrived, or after `ms` (ack-signal.ts). */
  waitForAck(ms: number, seen = this.#acks.heard): Promise<void> {
    return this.#acks.wait(ms, seen);
  }

  /** Whether acknowledgements arrive as notifications now (otherwise a waiter should poll). */
  get listening(): boolean {
    return this.#client !== undefined && this.#state === 'connected';
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tickTimer);
    this.#deafness.disarm();
    this.#reconnectTimer.cancel();
    this.#lease.stop();
    this.#acks.wakeAll();
    const client = this.#client;
    this.#client = undefined;
    if (client) await dropConnection(client);
  }

  /** For tests: the feed's connection, as PostgreSQL sees it. */
  get applicationName(): string {
    return `unwrapd-feed ${this.#opts.instanceId}`;
  }

  async #connectClient(): Promise<pg.Client> {
    const sent = performance.now();
    const client = await openFeedConnection({
      clientConfig: this.#opts.clientConfig,
      applicationName: this.applicationName,
      graceMs: this.#opts.graceMs,
      channels: this.#channels,
      onLost: (c, err) => this.#lost(c, err),
      onNotification: (c, n) => this.#onNotification(c, n),
    });
    this.#hearing.heard(sent);
    this.#client = client;
    return client;
  }

  #onNotification(client: pg.Client, n: pg.Notification): void {
    if (client !== this.#client) return;
    if (n.channel === this.#channels.acks) {
      this.#acks.notify();
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
    return this.#drainRun.run();
  }

  async #drainStep(): Promise<void> {
    const client = this.#client;
    try {
      await this.#drainOnce(client);
    } catch (err) {
      // A run that failed on a connection already replaced goes again on the new one.
      if (!this.#client || this.#client === client) throw err;
      this.#drainRun.again();
    }
  }

  async #drainOnce(client: pg.Client | undefined): Promise<void> {
    if (!client) throw new Error('not connected');
    // Re-join before reading: a writer committing after the registration waits for us; one that committed
    // before it is in the read below.
    if (!this.#lease.held) {
      await rejoinInstance(client, this.#q, this.#opts.instanceId, this.#lastSequence, this.#opts.leaseMs);
      this.#lease.rejoined(); // still fenced until the read below and a renewal succeed
    }
    for (;;) {
      const sent = performance.now();
      const rows = await readEventsAfter(client, this.#q, this.#lastSequence, PAGE);
      this.#hearing.heard(sent);
      if (rows.length === 0) break;
      const events: PolicyEvent[] = rows.map(eventFromRow);
      await this.#opts.apply(events, client);
      const last = events[events.length - 1]!;
      this.#lastSequence = last.sequence;
      this.#lastEventAt = last.at;
      this.#listeners.tell(events);
      if (rows.length < PAGE) break;
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
    if (!moved && !this.#deafness.deaf && !this.#lease.due(sent)) return;
    const renewed = await renewLease(client, this.#q, {
      instanceId: this.#opts.instanceId,
      applied,
      leaseMs: this.#opts.leaseMs,
      announce: moved,
      ackChannel: this.#channels.acks,
    });
    this.#hearing.heard(heardSent);
    if (!renewed) {
      this.#lease.lost();
      this.#opts.log.warn(
        'instance lease expired before it was renewed: fenced; re-joining the fleet and catching up',
        { last_sequence: applied },
      );
      this.#goDeaf('lease expired');
      this.#drainRun.again();
      return;
    }
    this.#ackedSequence = applied;
    this.#lease.renewed(sent);
    if (this.#deafness.deaf && this.#state === 'connected' && client === this.#client) this.#lift();
  }

  #tick(): void {
    if (this.#stopped) return;
    const client = this.#client;
    if (client && this.#state === 'connected') this.#drain().catch((err: unknown) => this.#lost(client, err));
    if (this.#hearing.silentPast(this.#opts.graceMs)) {
      // Connected in name but silent past the grace period (a black-holed connection): treat as lost.
      // Measured from the last answer, so a connection that answers slowly (a saturated machine) is kept.
      if (client) this.#lost(client, new Error(`no answer for ${this.#opts.graceMs} ms`));
      else this.#goDeaf(`no answer for ${this.#opts.graceMs} ms`);
    }
  }

  #lost(client: pg.Client, err: unknown): void {
    if (client !== this.#client || this.#stopped) {
      void dropConnection(client);
      return;
    }
    this.#client = undefined;
    void dropConnection(client);
    if (this.#state === 'connected') {
      this.#opts.log.warn('revocation feed lost; reconnecting', {
        reason: pgMessage(err),
        grace_ms: this.#opts.graceMs,
        last_sequence: this.#lastSequence,
      });
    }
    this.#state = 'disconnected';
    this.#armDeafTimer();
    this.#scheduleReconnect();
  }

  /** Deaf once cut off for `graceMs` from the send time of the last round trip that succeeded. */
  #armDeafTimer(): void {
    this.#deafness.arm(this.#hearing.cutOffLeft(this.#opts.graceMs), () => {
      if (this.#state !== 'connected') this.#goDeaf(`cut off for more than ${this.#opts.graceMs} ms`);
    });
  }

  #goDeaf(reason: string): void {
    if (this.#stopped) return;
    this.#deafness.enter(reason, { grace_ms: this.#opts.graceMs, last_sequence: this.#lastSequence });
  }

  #lift(): void {
    this.#deafness.lift({ last_sequence: this.#lastSequence });
  }

  #scheduleReconnect(): void {
    if (!this.#stopped) this.#reconnectTimer.schedule(() => void this.#reconnect());
  }

  async #reconnect(): Promise<void> {
    if (this.#stopped || this.#client) return;
    let client: pg.Client;
    try {
      client = await this.#connectClient();
    } catch (err) {
      this.#opts.log.debug('revocation feed: reconnect failed', { reason: pgMessage(err) });
      this.#armDeafTimer();
      this.#scheduleReconnect();
      return;
    }
    if (this.#stopped) {
      void dropConnection(client);
      return;
    }
    try {
      // Catch up before anything else: a revocation missed while away is applied before the cache is back.
      const resynced = await resyncIfLogShrank(client, this.#q, this.#opts, this.#lastSequence);
      if (resynced !== undefined) this.#lastSequence = this.#ackedSequence = resynced;
      await this.#drain();
    } catch (err) {
      this.#lost(client, err);
      return;
    }
    if (client !== this.#client) return;
    this.#reconnectTimer.reset();
    this.#deafness.disarm();
    this.#state = 'connected';
    if (!this.#tickTimer) this.#startTicking();
    // The drain above read the log to its end and renewed the lease (a lost one was re-joined first).
    if (this.#deafness.deaf && this.#lease.fenced() === undefined) this.#lift();
    else if (!this.#deafness.deaf)
      this.#opts.log.info('revocation feed reconnected and caught up', { last_sequence: this.#lastSequence });
  }
}
