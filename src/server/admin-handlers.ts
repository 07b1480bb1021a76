import type { KeyCache } from '../cache/key-cache.js';
import type { PolicyService } from '../core/policy-service.js';
import type { StatusReporter } from '../core/status-reporter.js';
import type { AdminHandlers } from '../generated/unwrapd/v1/Admin.js';
import type { CreatePolicyRequest__Output } from '../generated/unwrapd/v1/CreatePolicyRequest.js';
import type { EvictRequest__Output } from '../generated/unwrapd/v1/EvictRequest.js';
import type { EvictResponse } from '../generated/unwrapd/v1/EvictResponse.js';
import type { GetPolicyRequest__Output } from '../generated/unwrapd/v1/GetPolicyRequest.js';
import type { GetStatusRequest__Output } from '../generated/unwrapd/v1/GetStatusRequest.js';
import type { ListPoliciesRequest__Output } from '../generated/unwrapd/v1/ListPoliciesRequest.js';
import type { ListPoliciesResponse } from '../generated/unwrapd/v1/ListPoliciesResponse.js';
import type { Policy } from '../generated/unwrapd/v1/Policy.js';
import type { Status } from '../generated/unwrapd/v1/Status.js';
import type { Logger } from '../log/logger.js';
import { modeFromProto, policyToProto } from './policy-to-proto.js';
import { requireId } from './request-fields.js';
import { unary, unimplementedStream, unimplementedUnary } from './unary.js';

export interface AdminDeps {
  policies: PolicyService;
  cache: KeyCache;
  status: StatusReporter;
}

export function adminHandlers(deps: AdminDeps, log: Logger): AdminHandlers {
  return {
    CreatePolicy: unary<CreatePolicyRequest__Output, Policy>('CreatePolicy', log, async (req, signal) => {
      const record = await deps.policies.create({
        tenant: requireId(req.tenant, 'tenant'),
        id: requireId(req.id, 'id'),
        name: req.name || req.id,
        mode: modeFromProto(req.mode),
        geo: req.geo,
        keys: { 'customer-a': req.customerKeyA, 'customer-b': req.customerKeyB, availability: req.availabilityKey },
        signal,
      });
      log.info('policy created', { tenant: record.tenant, policy: record.id, mode: record.mode });
      return policyToProto(record);
    }),
    GetPolicy: unary<GetPolicyRequest__Output, Policy>('GetPolicy', log, (req) =>
      policyToProto(deps.policies.get(requireId(req.tenant, 'tenant'), requireId(req.id, 'id'))),
    ),
    ListPolicies: unary<ListPoliciesRequest__Output, ListPoliciesResponse>('ListPolicies', log, (req) => ({
      policies: deps.policies.list(req.tenant ? requireId(req.tenant, 'tenant') : undefined).map(policyToProto),
    })),
    Evict: unary<EvictRequest__Output, EvictResponse>('Evict', log, (req) => {
      let evicted: number;
      if (req.tenant && req.id) evicted = deps.cache.evictPolicy(requireId(req.tenant, 'tenant'), requireId(req.id, 'id'));
      else if (req.tenant) evicted = deps.cache.evictTenant(requireId(req.tenant, 'tenant'));
      else evicted = deps.cache.clear();
      log.info('cache evicted', { tenant: req.tenant || '*', policy: req.id || '*', evicted });
      return { evicted };
    }),
    GetStatus: unary<GetStatusRequest__Output, Status>('GetStatus', log, () => {
      const s = deps.status.status();
      return {
        version: s.version,
        startedAt: s.startedAt,
        listen: s.listen,
        serving: s.serving,
        cacheEntries: s.cache.entries,
        cacheMaxEntries: s.cache.maxEntries,
        cacheHits: String(s.cache.hits),
        cacheMisses: String(s.cache.misses),
        providerUnwraps: String(s.providerUnwraps),
        availabilityKeyUses: String(s.availabilityKeyUses),
        cachedKeys: s.cachedKeys,
        feeds: s.feeds.map((f) => ({ source: f.source, state: f.state, lastSequence: String(f.lastSequence), lastEventAt: f.lastEventAt ?? '' })),
        registry: s.registry,
        providers: [...s.providers],
      };
    }),
    RollKey: unimplementedUnary('RollKey'),
    Refresh: unimplementedUnary('Refresh'),
    RotateIntermediateKey: unimplementedUnary('RotateIntermediateKey'),
    Revoke: unimplementedUnary('Revoke'),
    Purge: unimplementedUnary('Purge'),
    WatchEvents: unimplementedStream('WatchEvents'),
  };
}
