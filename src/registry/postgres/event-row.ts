import type { PolicyEvent, PolicyEventType } from '../policy-events.js';

/** A row of `policy_events` as pg returns it (bigints as strings). */
export interface PolicyEventRow {
  sequence: string;
  type: PolicyEventType;
  tenant: string;
  policy_id: string;
  revision: string;
  at: Date;
}

export const EVENT_COLUMNS = 'sequence, type, tenant, policy_id, revision, at';

export function eventFromRow(r: PolicyEventRow): PolicyEvent {
  return {
    sequence: Number(r.sequence),
    type: r.type,
    tenant: r.tenant,
    policyId: r.policy_id,
    revision: Number(r.revision),
    at: r.at.toISOString(),
  };
}
