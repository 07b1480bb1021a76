import type { AuditTrail } from '../audit/audit-log.js';
import type { UnwrapperOptions } from '../core/key-unwrapper.js';
import type { Logger } from '../log/logger.js';
import { requestFields } from '../log/request-context.js';

/**
 * What the daemon does when a root key fails to unwrap (a warning naming the key and the failure class) and
 * when the availability key is used (an audit record first, then the per-tenant count GetStatus shows, then a
 * warning): the key unwrapper's two callbacks.
 */
export function unwrapEvents(
  log: Logger,
  audit: AuditTrail,
  availabilityUses: Map<string, number>,
): Pick<UnwrapperOptions, 'onProviderError' | 'onAvailabilityUse'> {
  return {
    onProviderError: (err, policy, role, request) =>
      log.warn('root key failed to unwrap', {
        ...requestFields(request && { requestId: request.requestId, caller: request.actor, traceId: request.traceId }),
        tenant: policy.tenant,
        policy: policy.id,
        role,
        key_uri: err.keyUri,
        kind: err.kind,
        reason: err.reason,
        detail: err.message,
      }),
    onAvailabilityUse: async (use) => {
      await audit.append({
        type: 'availability_key.used',
        tenant: use.policy.tenant,
        policyId: use.policy.id,
        keyVersion: use.version,
        requestId: use.requestId,
        reason: use.reason,
        ...(use.actor ? { actor: use.actor } : {}),
        details: { policyRevision: use.policy.revision },
      });
      availabilityUses.set(use.policy.tenant, (availabilityUses.get(use.policy.tenant) ?? 0) + 1);
      log.warn('fallback to availability key', {
        ...requestFields({ requestId: use.requestId, caller: use.actor, traceId: use.traceId }),
        tenant: use.policy.tenant,
        policy: use.policy.id,
        version: use.version,
        reason: use.reason,
      });
    },
  };
}
