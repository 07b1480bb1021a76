import type pg from 'pg';
import type { Logger } from '../../log/logger.js';
import type { PolicyEvent } from '../policy-events.js';

/** The configuration of one instance's change feed (change-feed.ts) and what it calls back into the registry. */
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

export function feedChannels(schema: string): { events: string; acks: string } {
  return { events: `unwrapd:events:${schema}`, acks: `unwrapd:acks:${schema}` };
}
