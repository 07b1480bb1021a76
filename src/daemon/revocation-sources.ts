import type { KeyCache } from '../cache/key-cache.js';
import type { Config } from '../config/config.js';
import type { StatusReporter } from '../core/status-reporter.js';
import type { Logger } from '../log/logger.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import { createLocalEventLog, type PolicyEventLog } from '../registry/policy-events.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { EventGridReceiver } from '../revocation/event-grid-server.js';
import { feedRevocationSource } from '../revocation/feed-source.js';
import type { RevocationEvent, RevocationSource } from '../revocation/revocation-source.js';
import type { ServingFence } from '../revocation/serving-fence.js';
import { CloseNotifier } from '../registry/close-notifier.js';
import type { Telemetry } from '../telemetry/telemetry.js';

/**
 * The fleet side of the daemon, wired in one place: the policy event log (WatchEvents), the registry's
 * change feed as a revocation source (GetStatus shows it; its deafness turns the cache off), and the
 * Event Grid webhook when configured. docs/fleet.md describes how a revocation travels.
 *
 * Deaf (a source's feed lost past its grace period, or its lease not renewed in time): by default the
 * fence refuses every request (UNAVAILABLE "revocation feed lost") and the cache is cleared; with
 * `deafServeUncached` the instance instead serves fresh unwraps only (cache off), at the risk docs/fleet.md
 * states.
 */
export interface RevocationSources {
  events: PolicyEventLog;
  sources: RevocationSource[];
  eventGrid: EventGridReceiver | undefined;
  /**
   * Reports the feed in grpc.health.v1 under its own name, `unwrapd.v1.RevocationFeed`: NOT_SERVING while
   * deaf. The overall status ("") and unwrapd.v1.Crypto stay SERVING: liveness must never fail over
   * revocation. A readiness probe should check this name to take deaf (refusing) instances out of rotation.
   */
  attachHealth(health: { setStatus(service: string, status: 'SERVING' | 'NOT_SERVING'): void }): void;
  /**
   * Ends WatchEvents streams and stops every source, all at once (before the gRPC server drains). Rejects
   * when a source's stop failed, after every other one has stopped; the registry's feed itself stops with
   * the registry.
   */
  close(): Promise<void>;
}

export const FEED_HEALTH_SERVICE = 'unwrapd.v1.RevocationFeed';

export interface RevocationSourcesDeps {
  config: Config;
  registry: PolicyRegistry;
  cache: KeyCache;
  provider: RootKeyProvider;
  status: StatusReporter;
  /** Refuses every request while a source is fenced (unless config.deafServeUncached). */
  fence: ServingFence;
  /** Ends what is open on a policy (streams, waits) when a source sees its customer key revoked. */
  endOpen?: (tenant: string, policyId: string, reason: string) => void;
  /** Revocation sources besides the built-in ones (tests: fakes). */
  extraSources?: RevocationSource[];
  log: Logger;
  /** Revocations applied by source, the feed's lag (default: not counted). */
  telemetry?: Telemetry;
}

/**
 * What every revocation source's event does, whichever source saw it: the policy's cached keys are evicted,
 * what is open on it ends, the metric counts it by source, and one log line says so.
 */
export function revocationApplier(
  deps: Pick<RevocationSourcesDeps, 'cache' | 'endOpen' | 'telemetry' | 'log'>,
): (e: RevocationEvent) => void {
  return (e) => {
    const evicted = deps.cache.evictPolicy(e.tenant, e.policyId);
    deps.endOpen?.(e.tenant, e.policyId, e.reason);
    deps.telemetry?.revocationApplied(e.source);
    deps.log.info('revocation applied', {
      tenant: e.tenant,
      policy: e.policyId,
      source: e.source,
      reason: e.reason,
      evicted,
    });
  };
}

export async function startRevocationSources(deps: RevocationSourcesDeps): Promise<RevocationSources> {
  const { config, registry, cache, log } = deps;
  const sources: RevocationSource[] = [];
  const onRevoked = revocationApplier(deps);

  let base: PolicyEventLog;
  let closeBase: () => void = () => {};
  // A registry shared by a fleet has a change feed (src/registry/change-feed.ts): its event log is
  // fleet-wide, and the feed is a revocation source. Otherwise the event log is this process's own.
  const shared = registry.changeFeed?.();
  if (shared) {
    base = shared.events;
    sources.push(feedRevocationSource(shared.feed, log.child({ component: 'registry' }), deps.telemetry));
  } else {
    const local = createLocalEventLog(registry);
    base = local;
    closeBase = () => local.close();
  }
  // Watchers end when the daemon starts shutting down, before the gRPC server drains (a stream never ends by itself).
  const closing = new CloseNotifier();
  const events: PolicyEventLog = {
    scope: base.scope,
    lastSequence: () => base.lastSequence(),
    replay: (after, opts) => base.replay(after, opts),
    subscribe: (listener) => base.subscribe(listener),
    onClose: (listener) => closing.onClose(listener),
  };

  let eventGrid: EventGridReceiver | undefined;
  if (config.eventGridListen) {
    eventGrid = new EventGridReceiver({
      listen: config.eventGridListen,
      secret: config.eventGridSecret,
      maxBodyBytes: config.eventGridMaxBodyBytes,
      registry,
      cache,
      provider: deps.provider,
      providerTimeoutMs: config.providerTimeoutMs,
      log: log.child({ component: 'event-grid' }),
    });
    sources.push(eventGrid);
  }
  sources.push(...(deps.extraSources ?? []));

  let health: Parameters<RevocationSources['attachHealth']>[0] | undefined;
  const reportHealth = () =>
    health?.setStatus(FEED_HEALTH_SERVICE, sources.some((s) => s.state().state === 'deaf') ? 'NOT_SERVING' : 'SERVING');
  for (const source of sources) {
    // Fail closed when deaf: no cached key while the instance may be missing revocations.
    source.onDeafChange?.(() => {
      cache.setBypass(sources.some((s) => s.state().state === 'deaf'));
      reportHealth();
    });
    if (source.state().state === 'deaf') cache.setBypass(true);
    // Fail closed when deaf (the default): refuse rather than serve possibly revoked policies.
    if (source.fenced && !config.deafServeUncached)
      deps.fence.add({ name: source.name, fenced: () => source.fenced!() });
    await source.start(onRevoked);
    deps.status.addFeed(source);
  }

  return {
    events,
    sources,
    eventGrid,
    attachHealth(h) {
      health = h;
      reportHealth();
    },
    async close() {
      health?.setStatus(FEED_HEALTH_SERVICE, 'NOT_SERVING');
      if (!closing.close()) return;
      closeBase();
      const stopped = await Promise.allSettled(sources.map((s) => s.stop()));
      const failed: string[] = [];
      stopped.forEach((result, i) => {
        if (result.status === 'fulfilled') return;
        const name = sources[i]!.name;
        failed.push(name);
        log.error('a revocation source failed to stop', {
          source: name,
          error: result.reason instanceof Error ? result.reason : String(result.reason),
        });
      });
      if (failed.length > 0) throw new Error(`revocation sources failed to stop: ${failed.join(', ')}`);
    },
  };
}
