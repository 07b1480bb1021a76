import { UnwrapdError } from '../errors.js';
import { KEY_ROLES, policyKey, type PolicyRecord } from './policy.js';
import type { PolicyRegistry } from './policy-registry.js';
import { CloseNotifier } from './close-notifier.js';

/**
 * Policy events: what changed, in order. The PostgreSQL registry appends one to a shared log in the same
 * transaction as the change (a fleet-wide sequence); over the file registry, `createLocalEventLog` numbers
 * the changes this process sees (a process-local sequence). WatchEvents serves either.
 *
 * An event carries identifiers only, never the record: a purge must leave no wrapped copy anywhere, and
 * an event log that kept records would keep them.
 */
export type PolicyEventType = 'created' | 'rolled' | 'rotated' | 'revoked' | 'purged' | 'updated';

export interface PolicyEvent {
  sequence: number;
  type: PolicyEventType;
  tenant: string;
  policyId: string;
  /** The policy's revision after the change. */
  revision: number;
  /** RFC 3339. */
  at: string;
}

/** The events this process has applied, in order, and a way to read older ones again. */
export interface PolicyEventLog {
  /** "fleet" (one sequence shared by every instance) or "local" (this process's own numbering). */
  readonly scope: 'fleet' | 'local';
  /** The sequence of the last event applied here (0 before any). */
  lastSequence(): number;
  /**
   * Events with sequence > `after`, in order, at most `limit`, of one tenant when given. Throws
   * `failed_precondition` when events after `after` are no longer held (a bounded local log).
   */
  replay(after: number, opts: { tenant?: string; limit: number }): Promise<PolicyEvent[]>;
  /** Every event applied from now on, in order. Returns the unsubscribe function. */
  subscribe(listener: (event: PolicyEvent) => void): () => void;
  /** Called once when the log closes (the process shuts down): watchers end their streams. */
  onClose(listener: () => void): () => void;
}

/**
 * The event a change from `before` to `after` is. A change that does several things is named by the one
 * that matters most for revocation: purged, then revoked, then rotated (a new intermediate-key version is
 * active or old ones retired), then rolled (customer keys moved to other versions), else updated.
 */
export function eventTypeOf(before: PolicyRecord | undefined, after: PolicyRecord): PolicyEventType {
  if (!before) return 'created';
  if (after.state === 'purged' && before.state !== 'purged') return 'purged';
  if (after.state === 'revoked' && before.state !== 'revoked') return 'revoked';
  if (after.activeVersion !== before.activeVersion || after.minDecryptVersion !== before.minDecryptVersion)
    return 'rotated';
  if (customerKeysOf(after) !== customerKeysOf(before)) return 'rolled';
  return 'updated';
}

/**
 * Whether a change takes something away (a revoke, a purge, a retired key version): the fleet must have
 * applied such a change before the write that made it is acknowledged.
 */
export function isRestricting(before: PolicyRecord | undefined, after: PolicyRecord): boolean {
  if (!before) return false;
  if (after.state !== before.state && (after.state === 'revoked' || after.state === 'purged')) return true;
  return after.minDecryptVersion > before.minDecryptVersion;
}

/** The customer-key URIs a policy's copies are wrapped under, and the pinned ones, as one comparable string. */
function customerKeysOf(p: PolicyRecord): string {
  const pinned = KEY_ROLES.filter((r) => r !== 'availability').map((r) => p.keys[r]);
  const copies = p.versions.flatMap((v) =>
    v.copies.filter((c) => c.role !== 'availability').map((c) => `${v.version}:${c.role}:${c.keyUri}`),
  );
  return [...pinned, ...copies.sort()].join('|');
}

export interface LocalEventLogOptions {
  /** How many events are kept for replay. Default 10,000. */
  capacity?: number;
  now?: () => Date;
}

/**
 * The event log of a registry that has none of its own (the file registry): every onChange becomes an
 * event with the next process-local sequence number, typed by comparing with the record seen before.
 * The last `capacity` events are kept for replay.
 */
export function createLocalEventLog(
  registry: PolicyRegistry,
  opts: LocalEventLogOptions = {},
): PolicyEventLog & { close(): void } {
  const capacity = opts.capacity ?? 10_000;
  const now = opts.now ?? (() => new Date());
  const seen = new Map<string, PolicyRecord>(registry.list().map((p) => [policyKey(p.tenant, p.id), p]));
  const ring: PolicyEvent[] = [];
  const listeners = new Set<(event: PolicyEvent) => void>();
  const closing = new CloseNotifier();
  let sequence = 0;

  const unsubscribe = registry.onChange((record) => {
    const key = policyKey(record.tenant, record.id);
    const before = seen.get(key);
    if (before && before.revision >= record.revision) return;
    seen.set(key, record);
    const event: PolicyEvent = {
      sequence: ++sequence,
      type: eventTypeOf(before, record),
      tenant: record.tenant,
      policyId: record.id,
      revision: record.revision,
      at: now().toISOString(),
    };
    ring.push(event);
    if (ring.length > capacity) ring.splice(0, ring.length - capacity);
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A watcher's failure is its own; the others still get the event.
      }
    }
  });

  return {
    scope: 'local',
    lastSequence: () => sequence,
    async replay(after, { tenant, limit }) {
      const oldest = ring[0]?.sequence ?? sequence + 1;
      if (after + 1 < oldest && after < sequence) {
        throw new UnwrapdError(
          'failed_precondition',
          `events before sequence ${oldest} are no longer held by this instance (it keeps the last ${capacity})`,
          { reason: 'EVENTS_EXPIRED', metadata: { oldest_sequence: oldest } },
        );
      }
      const out: PolicyEvent[] = [];
      for (const e of ring) {
        if (e.sequence <= after || (tenant !== undefined && e.tenant !== tenant)) continue;
        out.push(e);
        if (out.length >= limit) break;
      }
      return out;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onClose: (listener) => closing.onClose(listener),
    close() {
      unsubscribe();
      listeners.clear();
      closing.close();
    },
  };
}
