import { requireRole } from '../auth/caller.js';
import type { LifecycleService } from '../core/lifecycle-service.js';
import type { PolicyService } from '../core/policy-service.js';
import type { StatusReporter } from '../core/status-reporter.js';
import { invalidArgument } from '../errors.js';
import type { AdminHandlers } from '../generated/unwrapd/v1/Admin.js';
import type { CreatePolicyRequest__Output } from '../generated/unwrapd/v1/CreatePolicyRequest.js';
import type { EvictRequest__Output } from '../generated/unwrapd/v1/EvictRequest.js';
import type { EvictResponse } from '../generated/unwrapd/v1/EvictResponse.js';
import type { GetPolicyRequest__Output } from '../generated/unwrapd/v1/GetPolicyRequest.js';
import type { GetStatusRequest__Output } from '../generated/unwrapd/v1/GetStatusRequest.js';
import type { ListPoliciesRequest__Output } from '../generated/unwrapd/v1/ListPoliciesRequest.js';
import type { ListPoliciesResponse } from '../generated/unwrapd/v1/ListPoliciesResponse.js';
import type { Policy } from '../generated/unwrapd/v1/Policy.js';
import type { PurgeReceipt } from '../generated/unwrapd/v1/PurgeReceipt.js';
import type { PurgeRequest__Output } from '../generated/unwrapd/v1/PurgeRequest.js';
import type { RefreshRequest__Output } from '../generated/unwrapd/v1/RefreshRequest.js';
import type { RevokeRequest__Output } from '../generated/unwrapd/v1/RevokeRequest.js';
import type { RollKeyRequest__Output } from '../generated/unwrapd/v1/RollKeyRequest.js';
import type { RotateIntermediateKeyRequest__Output } from '../generated/unwrapd/v1/RotateIntermediateKeyRequest.js';
import type { Status } from '../generated/unwrapd/v1/Status.js';
import type { Logger } from '../log/logger.js';
import { KEY_ROLES, type KeyRole } from '../registry/policy.js';
import type { CallerResolver } from './caller-resolver.js';
import { modeFromProto, policyToProto } from './policy-to-proto.js';
import { requestId, requireId } from './request-fields.js';
import { unary, unimplementedStream } from './unary.js';
import { watchEventsHandler } from './watch-events.js';
import type { PolicyEventLog } from '../registry/policy-events.js';

export interface AdminDeps {
  policies: PolicyService;
  lifecycle: LifecycleService;
  status: StatusReporter;
  callers: CallerResolver;
  /** Policy events for WatchEvents (the fleet log with PostgreSQL, this process's own with the file registry). */
  events?: PolicyEventLog;
}

const MAX_REASON = 1024;

function reasonField(value: string | undefined): string {
  const reason = value ?? '';
  if (reason.length > MAX_REASON) throw invalidArgument(`reason is longer than ${MAX_REASON} characters`);
  return reason;
}

/** Thin handlers for the Admin service: every call needs the `admin` role. */
export function adminHandlers(deps: AdminDeps, log: Logger): AdminHandlers {
  const admin = <Req, Res>(method: string, fn: (req: Req, signal: AbortSignal, actor: string) => Promise<Res> | Res) =>
    unary<Req, Res>(method, log, (req, signal, call) => {
      const caller = deps.callers(call);
      requireRole(caller, 'admin', method);
      return fn(req, signal, caller.id);
    });
  const target = (req: { tenant?: string; id?: string; requestId?: string }, signal: AbortSignal, actor: string) => ({
    tenant: requireId(req.tenant, 'tenant'),
    id: requireId(req.id, 'id'),
    requestId: requestId(req.requestId),
    actor,
    signal,
  });

  return {
    CreatePolicy: admin<CreatePolicyRequest__Output, Policy>('CreatePolicy', async (req, signal, actor) => {
      const record = await deps.policies.create({
        tenant: requireId(req.tenant, 'tenant'),
        id: requireId(req.id, 'id'),
        name: req.name || req.id,
        mode: modeFromProto(req.mode),
        geo: req.geo,
        keys: { 'customer-a': req.customerKeyA, 'customer-b': req.customerKeyB, availability: req.availabilityKey },
        requestId: requestId(req.requestId),
        actor,
        signal,
      });
      log.info('policy created', { tenant: record.tenant, policy: record.id, mode: record.mode });
      return policyToProto(record);
    }),
    GetPolicy: admin<GetPolicyRequest__Output, Policy>('GetPolicy', (req) => policyToProto(deps.policies.get(requireId(req.tenant, 'tenant'), requireId(req.id, 'id')))),
    ListPolicies: admin<ListPoliciesRequest__Output, ListPoliciesResponse>('ListPolicies', (req) => ({
      policies: deps.policies.list(req.tenant ? requireId(req.tenant, 'tenant') : undefined).map(policyToProto),
    })),
    RollKey: admin<RollKeyRequest__Output, Policy>('RollKey', async (req, signal, actor) => {
      if (!KEY_ROLES.includes(req.role as KeyRole)) throw invalidArgument('role must be customer-a, customer-b or availability');
      const record = await deps.lifecycle.rollKey({ ...target(req, signal, actor), role: req.role as KeyRole, newKeyUri: req.newKeyUri, recovery: req.recovery, reason: reasonField(req.reason), newAvailabilityKey: req.newAvailabilityKey });
      log.info('key rolled', { tenant: record.tenant, policy: record.id, role: req.role, key_uri: record.keys[req.role as KeyRole], recovery: req.recovery });
      return policyToProto(record);
    }),
    Refresh: admin<RefreshRequest__Output, Policy>('Refresh', async (req, signal, actor) => {
      const record = await deps.lifecycle.refresh({ ...target(req, signal, actor), recovery: req.recovery, reason: reasonField(req.reason) });
      log.info('policy refreshed', { tenant: record.tenant, policy: record.id, recovery: req.recovery });
      return policyToProto(record);
    }),
    RotateIntermediateKey: admin<RotateIntermediateKeyRequest__Output, Policy>('RotateIntermediateKey', async (req, signal, actor) => {
      const record = await deps.lifecycle.rotate({ ...target(req, signal, actor), minDecryptVersion: req.minDecryptVersion });
      log.info('intermediate key rotated', { tenant: record.tenant, policy: record.id, version: record.activeVersion, min_decrypt_version: record.minDecryptVersion });
      return policyToProto(record);
    }),
    Revoke: admin<RevokeRequest__Output, Policy>('Revoke', async (req, signal, actor) => {
      const record = await deps.lifecycle.revoke({ ...target(req, signal, actor), reason: reasonField(req.reason) });
      log.warn('policy revoked', { tenant: record.tenant, policy: record.id, actor });
      return policyToProto(record);
    }),
    Purge: admin<PurgeRequest__Output, PurgeReceipt>('Purge', async (req, signal, actor) => {
      const receipt = await deps.lifecycle.purge({ ...target(req, signal, actor), force: req.force, reason: reasonField(req.reason) });
      log.warn('policy purged', { tenant: receipt.tenant, policy: receipt.id, forced: receipt.forced, actor });
      return receipt;
    }),
    Evict: admin<EvictRequest__Output, EvictResponse>('Evict', async (req, _signal, actor) => {
      const tenant = req.tenant ? requireId(req.tenant, 'tenant') : '';
      const id = req.id ? requireId(req.id, 'id') : '';
      if (id && !tenant) throw invalidArgument('evicting a policy needs its tenant');
      const evicted = await deps.lifecycle.evict({ tenant, id, requestId: '', actor });
      log.info('cache evicted', { tenant: tenant || '*', policy: id || '*', evicted });
      return { evicted };
    }),
    GetStatus: admin<GetStatusRequest__Output, Status>('GetStatus', () => {
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
        refreshFailures: String(s.refreshFailures),
        auditRecords: String(s.audit.count),
        auditHeadHash: s.audit.hash,
        cacheBypassed: s.cacheBypassed,
      };
    }),
    WatchEvents: deps.events ? watchEventsHandler({ events: deps.events, callers: deps.callers }, log) : unimplementedStream('WatchEvents'),
  };
}
