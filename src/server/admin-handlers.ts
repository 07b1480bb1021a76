import type { Access } from '../auth/access.js';
import { hasPolicy, inRequest, type Caller } from '../auth/caller.js';
import type { LifecycleService } from '../core/lifecycle-service.js';
import type { PolicyService } from '../core/policy-service.js';
import type { StatusReporter } from '../core/status-reporter.js';
import { invalidArgument, UnwrapdError } from '../errors.js';
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
import { CallCancelledError, DeadlineExceededError } from './call-signal.js';
import type { CallerResolver } from './caller-resolver.js';
import { modeFromProto, policyToProto } from './policy-to-proto.js';
import { requestId, requireId } from './request-fields.js';
import { unary } from './unary.js';
import { watchEventsHandler } from './watch-events.js';
import type { PolicyEventLog } from '../registry/policy-events.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { auditHandlers } from './audit-handlers.js';

export interface AdminDeps {
  policies: PolicyService;
  lifecycle: LifecycleService;
  status: StatusReporter;
  callers: CallerResolver;
  access: Access;
  /** Both listen addresses, for GetStatus. */
  adminListen?: string;
  /** Denials so far (GetStatus). */
  accessDenied?: () => number;
  /** Policy events for WatchEvents (the fleet log with PostgreSQL, this process's own with the file registry). */
  events: PolicyEventLog;
  /** The audit trail, for ListAuditRecords and FollowAuditRecords (src/server/audit-handlers.ts). */
  audit: AuditTrail;
  /** Availability-key uses since start, per tenant (GetStatus). */
  availabilityUsesByTenant?: () => ReadonlyMap<string, number>;
}

const MAX_REASON = 1024;

/** The Admin calls that change something: each logs one line with its outcome. */
const CHANGES = new Set(['CreatePolicy', 'RollKey', 'Refresh', 'RotateIntermediateKey', 'Revoke', 'Purge', 'Evict']);

/** A failed call's outcome for its log line: the error code (`failed_precondition`, ...), never its text. */
function outcomeOf(err: unknown): string {
  if (err instanceof UnwrapdError) return err.code;
  if (err instanceof DeadlineExceededError) return 'deadline_exceeded';
  if (err instanceof CallCancelledError) return 'cancelled';
  return 'internal';
}

function reasonField(value: string | undefined): string {
  const reason = value ?? '';
  if (reason.length > MAX_REASON) throw invalidArgument(`reason is longer than ${MAX_REASON} characters`);
  // Control characters would be escaped six-fold in every listed record (reason and record_json).
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(reason)) throw invalidArgument('reason must not contain control characters');
  return reason;
}

/**
 * Thin handlers for the Admin service. Every call needs the `admin` role and a grant on the tenant (and policy)
 * it names; RollKey/Refresh with `recovery` and a forced Purge also need `recovery`, which `admin` does not
 * imply; ListPolicies and WatchEvents without a tenant show only granted tenants; GetStatus and an Evict of
 * everything need every tenant (docs/security.md).
 */
export function adminHandlers(deps: AdminDeps, log: Logger): AdminHandlers {
  const { access } = deps;
  /**
   * Every call: the caller resolved for this request (its denials carry the request), the `admin` role. The
   * calls that change something log one line each: the handler's on success (outcome `ok`), this one on failure.
   */
  const admin = <Req, Res>(
    method: string,
    fn: (req: Req, signal: AbortSignal, caller: Caller, log: Logger) => Promise<Res> | Res,
  ) =>
    unary<Req, Res>(method, log, (req, signal, call, ctx) => {
      const resolved = deps.callers(call);
      ctx.caller = resolved.id;
      const caller = inRequest(resolved, ctx);
      if (!CHANGES.has(method)) {
        access.role(caller, 'admin', method);
        return fn(req, signal, caller, ctx.log);
      }
      return (async () => {
        try {
          access.role(caller, 'admin', method);
          return await fn(req, signal, caller, ctx.log);
        } catch (err) {
          ctx.log.info(`${method} failed`, { outcome: outcomeOf(err) });
          throw err;
        }
      })();
    });
  /** The tenant and policy a call acts on, checked against the caller's grant. */
  const target = (
    method: string,
    req: { tenant?: string; id?: string; requestId?: string },
    signal: AbortSignal,
    caller: Caller,
  ) => {
    requestId(req.requestId); // INVALID_ARGUMENT when malformed; when valid, the request context holds it
    const t = {
      tenant: requireId(req.tenant, 'tenant'),
      id: requireId(req.id, 'id'),
      requestId: caller.request?.requestId ?? '',
      actor: caller.id,
      signal,
    };
    access.policy(caller, t.tenant, t.id, method);
    return t;
  };

  return {
    CreatePolicy: admin<CreatePolicyRequest__Output, Policy>('CreatePolicy', async (req, signal, caller, log) => {
      const t = target('CreatePolicy', req, signal, caller);
      const record = await deps.policies.create({
        tenant: t.tenant,
        id: t.id,
        name: req.name || req.id,
        mode: modeFromProto(req.mode),
        geo: req.geo,
        keys: { 'customer-a': req.customerKeyA, 'customer-b': req.customerKeyB, availability: req.availabilityKey },
        requestId: t.requestId,
        actor: caller.id,
        signal,
      });
      log.info('policy created', { outcome: 'ok', tenant: record.tenant, policy: record.id, mode: record.mode });
      return policyToProto(record);
    }),
    GetPolicy: admin<GetPolicyRequest__Output, Policy>('GetPolicy', (req, signal, caller) => {
      const t = target('GetPolicy', req, signal, caller);
      return policyToProto(deps.policies.get(t.tenant, t.id));
    }),
    ListPolicies: admin<ListPoliciesRequest__Output, ListPoliciesResponse>('ListPolicies', (req, _signal, caller) => {
      const tenant = req.tenant ? requireId(req.tenant, 'tenant') : undefined;
      if (tenant !== undefined) access.tenant(caller, tenant, 'ListPolicies');
      // Without a tenant: only what the caller is granted (nothing is said about the rest).
      return {
        policies: deps.policies
          .list(tenant)
          .filter((p) => hasPolicy(caller, p.tenant, p.id))
          .map(policyToProto),
      };
    }),
    RollKey: admin<RollKeyRequest__Output, Policy>('RollKey', async (req, signal, caller, log) => {
      const t = target('RollKey', req, signal, caller);
      if (req.recovery) access.role(caller, 'recovery', 'RollKey with recovery');
      if (!KEY_ROLES.includes(req.role as KeyRole))
        throw invalidArgument('role must be customer-a, customer-b or availability');
      const record = await deps.lifecycle.rollKey({
        ...t,
        role: req.role as KeyRole,
        newKeyUri: req.newKeyUri,
        recovery: req.recovery,
        reason: reasonField(req.reason),
        newAvailabilityKey: req.newAvailabilityKey,
      });
      log.info('key rolled', {
        outcome: 'ok',
        tenant: record.tenant,
        policy: record.id,
        role: req.role,
        key_uri: record.keys[req.role as KeyRole],
        recovery: req.recovery,
      });
      return policyToProto(record);
    }),
    Refresh: admin<RefreshRequest__Output, Policy>('Refresh', async (req, signal, caller, log) => {
      const t = target('Refresh', req, signal, caller);
      if (req.recovery) access.role(caller, 'recovery', 'Refresh with recovery');
      const record = await deps.lifecycle.refresh({ ...t, recovery: req.recovery, reason: reasonField(req.reason) });
      log.info('policy refreshed', { outcome: 'ok', tenant: record.tenant, policy: record.id, recovery: req.recovery });
      return policyToProto(record);
    }),
    RotateIntermediateKey: admin<RotateIntermediateKeyRequest__Output, Policy>(
      'RotateIntermediateKey',
      async (req, signal, caller, log) => {
        const record = await deps.lifecycle.rotate({
          ...target('RotateIntermediateKey', req, signal, caller),
          minDecryptVersion: req.minDecryptVersion,
        });
        log.info('intermediate key rotated', {
          outcome: 'ok',
          tenant: record.tenant,
          policy: record.id,
          version: record.activeVersion,
          min_decrypt_version: record.minDecryptVersion,
        });
        return policyToProto(record);
      },
    ),
    Revoke: admin<RevokeRequest__Output, Policy>('Revoke', async (req, signal, caller, log) => {
      const record = await deps.lifecycle.revoke({
        ...target('Revoke', req, signal, caller),
        reason: reasonField(req.reason),
      });
      log.info('policy revoked', { outcome: 'ok', tenant: record.tenant, policy: record.id });
      return policyToProto(record);
    }),
    Purge: admin<PurgeRequest__Output, PurgeReceipt>('Purge', async (req, signal, caller, log) => {
      const t = target('Purge', req, signal, caller);
      if (req.force) access.role(caller, 'recovery', 'a forced Purge');
      const receipt = await deps.lifecycle.purge({ ...t, force: req.force, reason: reasonField(req.reason) });
      log.info('policy purged', { outcome: 'ok', tenant: receipt.tenant, policy: receipt.id, forced: receipt.forced });
      return receipt;
    }),
    Evict: admin<EvictRequest__Output, EvictResponse>('Evict', async (req, _signal, caller, log) => {
      const tenant = req.tenant ? requireId(req.tenant, 'tenant') : '';
      const id = req.id ? requireId(req.id, 'id') : '';
      if (id && !tenant) throw invalidArgument('evicting a policy needs its tenant');
      if (id) access.policy(caller, tenant, id, 'Evict');
      else if (tenant) {
        access.tenant(caller, tenant, 'Evict');
        if (caller.policies && !caller.policies.has(`${tenant}/*`))
          access.everything(caller, 'Evict of a whole tenant');
      } else access.everything(caller, 'Evict of everything');
      const evicted = await deps.lifecycle.evict({
        tenant,
        id,
        requestId: caller.request?.requestId ?? '',
        actor: caller.id,
      });
      log.info('cache evicted', { outcome: 'ok', tenant: tenant || '*', policy: id || '*', evicted });
      return { evicted };
    }),
    GetStatus: admin<GetStatusRequest__Output, Status>('GetStatus', (_req, _signal, caller) => {
      // The status names every tenant's cached keys: a view for callers granted every tenant.
      access.everything(caller, 'GetStatus');
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
        feeds: s.feeds.map((f) => ({
          source: f.source,
          state: f.state,
          lastSequence: String(f.lastSequence),
          lastEventAt: f.lastEventAt ?? '',
        })),
        registry: s.registry,
        providers: [...s.providers],
        refreshFailures: String(s.refreshFailures),
        auditRecords: String(s.audit.count),
        auditHeadHash: s.audit.hash,
        cacheBypassed: s.cacheBypassed,
        adminListen: deps.adminListen ?? '',
        accessDenied: String(deps.accessDenied?.() ?? 0),
        availabilityKeyUsesByTenant: [...(deps.availabilityUsesByTenant?.() ?? new Map<string, number>())]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([tenant, count]) => ({ tenant, count: String(count) })),
      };
    }),
    WatchEvents: watchEventsHandler({ events: deps.events, callers: deps.callers, access }, log),
    ...auditHandlers({ trail: deps.audit, callers: deps.callers, access, onClose: deps.events.onClose }, log),
  };
}
