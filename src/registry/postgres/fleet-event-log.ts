import type pg from 'pg';
import { UnwrapdError } from '../../errors.js';
import { CloseNotifier } from '../close-notifier.js';
import type { PolicyEvent, PolicyEventLog } from '../policy-events.js';
import { EVENT_COLUMNS, eventFromRow, type PolicyEventRow } from './event-row.js';
import { pgMessage } from './pg-text.js';

/**
 * The fleet-wide event log (WatchEvents): replays read `<schema>.policy_events`; subscribers hear every
 * event the change feed applies (`publish`), whichever instance wrote it.
 */
export class FleetEventLog {
  readonly #listeners = new Set<(event: PolicyEvent) => void>();
  readonly #closing = new CloseNotifier();
  readonly log: PolicyEventLog;

  constructor(opts: { q: string; description: string; pool: () => pg.Pool; lastSequence: () => number }) {
    this.log = {
      scope: 'fleet',
      lastSequence: opts.lastSequence,
      replay: async (after, { tenant, limit }) => {
        const res = await opts
          .pool()
          .query<PolicyEventRow>(
            `SELECT ${EVENT_COLUMNS} FROM ${opts.q}.policy_events
             WHERE sequence > $1 AND ($2::text IS NULL OR tenant = $2) ORDER BY sequence LIMIT $3`,
            [after, tenant ?? null, limit],
          )
          .catch((err: unknown) => {
            throw new UnwrapdError(
              'unavailable',
              `${opts.description}: cannot read the event log (${pgMessage(err)})`,
              { cause: err },
            );
          });
        return res.rows.map(eventFromRow);
      },
      subscribe: (listener) => {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
      },
      onClose: (listener) => this.#closing.onClose(listener),
    };
  }

  publish(events: readonly PolicyEvent[]): void {
    for (const e of events) {
      for (const l of this.#listeners) {
        try {
          l(e);
        } catch {
          // One watcher's failure is its own.
        }
      }
    }
  }

  close(): void {
    this.#closing.close();
    this.#listeners.clear();
  }
}
