import { loggableError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { PolicyEvent } from '../policy-events.js';

/** Who hears the events the change feed applied; a listener that throws is logged and stops nothing else. */
export class FeedListeners {
  readonly #listeners = new Set<(events: readonly PolicyEvent[]) => void>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  add(listener: (events: readonly PolicyEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  tell(events: readonly PolicyEvent[]): void {
    for (const l of this.#listeners) {
      try {
        l(events);
      } catch (err) {
        this.#log.error('a change-feed listener threw', { error: loggableError(err) });
      }
    }
  }
}
