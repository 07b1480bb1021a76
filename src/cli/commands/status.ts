import { CLIENT_OPTIONS, parse, required } from '../options.js';
import { print } from '../output.js';
import { withClient } from './policy.js';

/** `unwrapd status`: the daemon's cache and feed state (never calls a provider). */
export async function status(args: string[]): Promise<number> {
  const { values } = parse(args, CLIENT_OPTIONS);
  const s = await withClient(values, (c, deadlineMs) => c.getStatus({ deadlineMs }));
  print(values.json, s, () =>
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

/** `unwrapd evict --tenant T [--policy P]`: drops cached keys without revoking. */
export async function evict(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...CLIENT_OPTIONS,
    tenant: { type: 'string' },
    policy: { type: 'string' },
    all: { type: 'boolean' },
  });
  const tenant = values.all ? '' : required(values.tenant, 'tenant');
  const res = await withClient(values, (c, deadlineMs) => c.evict({ tenant, id: values.policy ?? '' }, { deadlineMs }));
  print(values.json, res, () => `evicted ${res.evicted} cached key(s)`);
  return 0;
}
