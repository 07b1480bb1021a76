import type { Status__Output } from '../../generated/unwrapd/v1/Status.js';
import { UsageError } from '../cli-error.js';
import { CLIENT_OPTIONS, parse } from '../options.js';
import { print } from '../output.js';
import { withClient } from './policy.js';

/** `unwrapd status`: the daemon's cache and feed state (never calls a provider). */
export async function status(args: string[]): Promise<number> {
  const { values } = parse(args, CLIENT_OPTIONS);
  const s = await withClient(values, (c, deadlineMs) => c.getStatus({ deadlineMs }));
  print(values.json, statusJson(s), () =>
    [
      `unwrapd ${s.version} on ${s.listen} (admin ${s.adminListen || 'n/a'}), ${s.serving ? 'serving' : 'not serving'}, since ${s.startedAt}; ${s.accessDenied} calls denied`,
      `registry: ${s.registry}; providers: ${s.providers.join(', ')}`,
      `cache: ${s.cacheEntries}/${s.cacheMaxEntries} keys, ${s.cacheHits} hits, ${s.cacheMisses} misses; provider unwraps: ${s.providerUnwraps}; availability-key uses: ${s.availabilityKeyUses}`,
      ...s.cachedKeys.map(
        (k) => `  ${k.tenant}/${k.policyId} v${k.version} via ${k.sourceRole} #${k.keyId}, expires ${k.expiresAt}`,
      ),
      ...s.feeds.map(
        (f) =>
          `feed ${f.source}: ${f.state}, sequence ${f.lastSequence}${f.lastEventAt ? `, last event ${f.lastEventAt}` : ''}${f.state === 'deaf' ? ' (cache off: fresh unwraps only)' : ''}`,
      ),
    ].join('\n'),
  );
  return 0;
}

/** The 64-bit counters arrive as decimal strings (exact beyond 2^53); JSON gets numbers, as counters are. */
function statusJson(s: Status__Output) {
  const n = (v: string) => Number(v);
  return {
    ...s,
    cacheHits: n(s.cacheHits),
    cacheMisses: n(s.cacheMisses),
    providerUnwraps: n(s.providerUnwraps),
    availabilityKeyUses: n(s.availabilityKeyUses),
    refreshFailures: n(s.refreshFailures),
    auditRecords: n(s.auditRecords),
    accessDenied: n(s.accessDenied),
    feeds: s.feeds.map((f) => ({ ...f, lastSequence: n(f.lastSequence) })),
    availabilityKeyUsesByTenant: s.availabilityKeyUsesByTenant.map((t) => ({ ...t, count: n(t.count) })),
  };
}

/** `unwrapd evict --tenant T [--policy P]`: drops cached keys without revoking. */
export async function evict(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...CLIENT_OPTIONS,
    tenant: { type: 'string' },
    policy: { type: 'string' },
    all: { type: 'boolean' },
  });
  if (!values.all && !values.tenant)
    throw new UsageError('evict needs --tenant T [--policy P], or --all to drop every cached key');
  if (values.all && (values.tenant || values.policy)) throw new UsageError('--all takes no --tenant or --policy');
  const tenant = values.all ? '' : values.tenant!;
  const res = await withClient(values, (c, deadlineMs) => c.evict({ tenant, id: values.policy ?? '' }, { deadlineMs }));
  print(values.json, res, () => `evicted ${res.evicted} cached key(s)`);
  return 0;
}
