import { AUDIT_TYPES, canonicalJson, type AuditRecord, type AuditType } from '../audit/audit-record.js';
import type { AuditFilter } from '../audit/audit-trail.js';
import type { Access } from '../auth/access.js';
import { hasEverything, hasPolicy, type Caller } from '../auth/caller.js';
import { invalidArgument } from '../errors.js';
import type { AuditRecord as AuditRecordMessage } from '../generated/unwrapd/v1/AuditRecord.js';
import type { ListAuditRecordsRequest__Output } from '../generated/unwrapd/v1/ListAuditRecordsRequest.js';
import { requireId } from './request-fields.js';

/**
 * The filters of ListAuditRecords and FollowAuditRecords, checked against the caller's grant: a named tenant
 * (and policy) must be granted; without one, the query is narrowed to the granted tenants. `visible` then
 * drops what a policy-scoped grant does not cover, and records of no tenant (`*`: an eviction of everything)
 * unless the caller sees every tenant. So a tenant-scoped identity reads its own tenant's records only.
 */
export function auditQuery(
  req: ListAuditRecordsRequest__Output,
  caller: Caller,
  access: Access,
  method: string,
): { filter: AuditFilter; visible: (r: AuditRecord) => boolean } {
  const filter: AuditFilter = {};
  if (req.tenant) {
    const tenant = requireId(req.tenant, 'tenant');
    if (req.policyId) access.policy(caller, tenant, requireId(req.policyId, 'policy_id'), method);
    else access.tenant(caller, tenant, method);
    filter.tenants = [tenant];
  } else if (req.policyId) {
    throw invalidArgument('policy_id needs its tenant');
  } else if (caller.tenants !== '*') {
    filter.tenants = [...caller.tenants];
  }
  if (req.policyId) filter.policyId = req.policyId;
  if (req.types.length > 0) {
    if (req.types.length > AUDIT_TYPES.length) throw invalidArgument('too many types');
    for (const t of req.types)
      if (!AUDIT_TYPES.includes(t as AuditType)) throw invalidArgument(`unknown audit record type "${t.slice(0, 64)}"`);
    filter.types = req.types as AuditType[];
  }
  if (req.since) filter.since = timeField(req.since, 'since');
  if (req.until) filter.until = timeField(req.until, 'until');
  const from = Number(req.fromSequence || '0');
  if (!Number.isSafeInteger(from) || from < 0) throw invalidArgument('from_sequence must be a non-negative integer');
  filter.fromSeq = Math.max(1, from);
  const visible = (r: AuditRecord) =>
    r.tenant === '*' ? hasEverything(caller) : hasPolicy(caller, r.tenant, r.policyId);
  return { filter, visible };
}

function timeField(value: string, field: string): string {
  if (value.length > 64 || Number.isNaN(Date.parse(value)))
    throw invalidArgument(`${field} must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z`);
  return new Date(Date.parse(value)).toISOString();
}

export function auditRecordToProto(r: AuditRecord): AuditRecordMessage {
  return {
    sequence: String(r.seq),
    at: r.at,
    type: r.type,
    tenant: r.tenant,
    policyId: r.policyId,
    keyVersion: r.keyVersion ?? 0,
    requestId: r.requestId ?? '',
    reason: r.reason ?? '',
    actor: r.actor ?? '',
    details: Object.fromEntries(Object.entries(r.details ?? {}).map(([k, v]) => [k, String(v)])),
    prevHash: r.prev,
    hash: r.hash,
    recordJson: canonicalJson(r),
  };
}
