import { appendFailuresUnavailable } from '../audit/append-failures.js';
import { openAuditLog, type AuditTrail } from '../audit/audit-log.js';
import type { Config } from '../config/config.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';

/**
 * The audit trail beside the registry: in the registry's database when it has one (PostgreSQL: one chain for
 * the fleet, each change's records in the change's transaction), else the file trail in the data directory.
 * Call after the registry opened. The PostgreSQL trail's code is loaded only for a registry with a database.
 */
export async function createAuditTrail(config: Config, registry: PolicyRegistry): Promise<AuditTrail> {
  const database = registry.database?.();
  if (!database) return appendFailuresUnavailable(await openAuditLog(config.auditLogPath));
  const { PostgresAuditTrail } = await import('../audit/postgres-audit-trail.js');
  const trail = new PostgresAuditTrail({ database });
  await trail.open();
  return trail;
}
