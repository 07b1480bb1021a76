import type { AuditTrail } from '../audit/audit-log.js';
import { Access } from '../auth/access.js';
import { AuthorizationTable } from '../auth/authorization-table.js';
import { describeMissing, parseRoles } from '../auth/caller.js';
import { DenialAudit } from '../auth/denial-audit.js';
import { listenerIdentity } from '../auth/peer-identity.js';
import type { Config } from '../config/config.js';
import { errorField, type Logger } from '../log/logger.js';
import { requestFields } from '../log/request-context.js';
import { callerResolver, type CallerResolver, type IdentitySource } from '../server/caller-resolver.js';

export interface AccessWiring {
  access: Access;
  /** Denials so far; each is logged and audited (rate-limited per minute). */
  denials: DenialAudit;
  dataCallers: CallerResolver;
  adminCallers: CallerResolver;
}

/**
 * Who may call: the authorization table (identity -> roles, tenants, policies) over both listeners, the
 * resolvers that turn a connection into a caller, and the denial audit (log line and audit record).
 *
 * The admin listener's default roles are for its own 0600 Unix socket (the daemon's user) only: on TCP, a
 * caller the table does not name, or the table's `admin` entry, gets nothing (a data-plane certificate from
 * the same client CA must never be an admin).
 */
export function wireAccess(
  config: Config,
  audit: AuditTrail,
  log: Logger,
  identities: { data?: IdentitySource; admin?: IdentitySource } = {},
): AccessWiring {
  const adminDefaults = config.adminListen.startsWith('unix://') ? parseRoles(config.adminSocketRoles) : [];
  const table = new AuthorizationTable(config.authorization, {
    data: parseRoles(config.callerRoles),
    admin: adminDefaults,
  });
  const denials = new DenialAudit({
    perMinute: config.denialAuditPerMinute,
    write: (d) => {
      const details: Record<string, string | number> = { method: d.method, missing: d.missing };
      if (d.suppressed) details.suppressed = d.suppressed;
      log.warn(d.suppressed ? 'access denied (repeats suppressed)' : 'access denied', {
        ...requestFields({ requestId: d.requestId, caller: d.identity, traceId: d.traceId }),
        method: d.method,
        missing: d.missing,
        ...(d.suppressed ? { suppressed: d.suppressed } : {}),
      });
      audit
        .append({
          type: 'access.denied',
          tenant: d.tenant,
          policyId: d.policyId,
          actor: d.identity,
          requestId: d.requestId,
          details,
        })
        .catch((err: unknown) => log.error('audit of an access denial failed', { error: errorField(err) }));
    },
  });
  const access = new Access((e, tenant, policyId) =>
    denials.record({
      identity: e.caller,
      method: e.method,
      missing: describeMissing(e.missing),
      tenant,
      policyId,
      requestId: e.request?.requestId,
      traceId: e.request?.traceId,
    }),
  );
  const dataCallers = callerResolver(identities.data ?? listenerIdentity(config.listen, config, log), table, 'data');
  const adminCallers = callerResolver(
    identities.admin ?? listenerIdentity(config.adminListen, config, log),
    table,
    'admin',
  );
  return { access, denials, dataCallers, adminCallers };
}
