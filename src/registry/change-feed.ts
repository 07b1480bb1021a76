import type { PolicyEvent, PolicyEventLog } from './policy-events.js';

/**
 * The change feed: an optional registry capability. A registry shared by a fleet (PostgreSQL) follows the
 * other instances' writes through a feed that can be cut off; while it is, this instance may be missing a
 * revocation. The daemon (src/daemon/revocation-sources.ts) turns the feed into a revocation source
 * (src/revocation/feed-source.ts): its deafness fences the instance and turns the key cache off, and its
 * revoked and purged events evict. A single-node registry has no feed: nothing to hear.
 */
export interface RegistryFeedState {
  state: 'connected' | 'disconnected' | 'deaf';
  /** The last event sequence applied. */
  lastSequence: number;
  lastEventAt?: string;
}

export interface RegistryChangeFeed {
  /** A short name for GetStatus and logs, e.g. "postgres-feed". */
  readonly name: string;
  /** Never throws. */
  state(): RegistryFeedState;
  /**
   * Called with true when the feed has been cut off past its grace period (or its lease lapsed), and with
   * false once it is back and caught up.
   */
  onDeafChange(listener: (deaf: boolean) => void): () => void;
  /** Why the instance must refuse every request now (deaf, lease lost or about to run out), or undefined. Synchronous and cheap. */
  fenced(): string | undefined;
  /** Called with each batch of events applied from the log, in order, after the registry's onChange listeners ran. */
  onEvents(listener: (events: readonly PolicyEvent[]) => void): () => void;
}

/** What a registry with a change feed offers: the feed, and the fleet-wide event log (WatchEvents). */
export interface ChangeFeedCapability {
  feed: RegistryChangeFeed;
  events: PolicyEventLog;
}
