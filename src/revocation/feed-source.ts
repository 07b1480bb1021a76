import { loggableError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RegistryChangeFeed } from '../registry/change-feed.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { RevocationEvent, RevocationSource, RevocationSourceState } from './revocation-source.js';

/**
 * A registry's change feed as a revocation source: every revoked or purged event it applies is reported
 * (the registry's onChange already evicts those policies; this is belt and braces, and one place for the
 * log line), and its deafness and fencing pass through. The registry owns the feed: it stops with the
 * registry's close, so `stop` only stops reporting.
 */
export function feedRevocationSource(
  feed: RegistryChangeFeed,
  log: Logger,
  telemetry?: Pick<Telemetry, 'feedLag'>,
): RevocationSource {
  let unsubscribe: (() => void) | undefined;
  return {
    name: feed.name,
    async start(onRevoked: (event: RevocationEvent) => void) {
      unsubscribe?.();
      unsubscribe = feed.onEvents((events) => {
        // The feed's lag: from the last event's writing (the writer's clock) to its applying here.
        if (telemetry && events.length > 0) telemetry.feedLag((Date.now() - Date.parse(events.at(-1)!.at)) / 1000);
        for (const e of events) {
          if (e.type !== 'revoked' && e.type !== 'purged') continue;
          try {
            onRevoked({
              tenant: e.tenant,
              policyId: e.policyId,
              reason: `${e.type} (sequence ${e.sequence})`,
              source: feed.name,
            });
          } catch (err) {
            log.error('a revocation listener threw', { error: loggableError(err) });
          }
        }
      });
    },
    state: (): RevocationSourceState => feed.state(),
    onDeafChange: (listener) => feed.onDeafChange(listener),
    fenced: () => feed.fenced(),
    async stop() {
      unsubscribe?.();
      unsubscribe = undefined;
    },
  };
}
