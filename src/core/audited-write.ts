import type { AuditFields, AuditRecord } from '../audit/audit-record.js';
import type { AuditLog, PendingAudit } from '../audit/audit-trail.js';
import type { WriteOptions } from '../registry/policy-registry.js';

/**
 * A registry write and the audit records of the change it makes, together: committed in one transaction
 * where the trail shares the registry's database (PostgreSQL), else appended under the registry's lock right
 * after the change is durable (the file trail). `fields` is read when the registry writes; when the write is
 * refused no record is written. `onWrite` (an eviction that must not wait for the records) runs inside the
 * write's step before the records, and again once it resolved. Returns what the write returned and the records.
 */
export async function auditedWrite<T>(
  audit: AuditLog,
  fields: (() => AuditFields[]) | undefined,
  write: (opts: WriteOptions) => Promise<T>,
  onWrite?: () => void,
): Promise<{ result: T; records: AuditRecord[] }> {
  if (!fields) {
    const result = await write(onWrite ? { within: async () => onWrite() } : {});
    onWrite?.();
    return { result, records: [] };
  }
  const pending: PendingAudit = audit.prepare?.(fields) ?? appendAfter(audit, fields);
  let result: T;
  try {
    result = await write({
      within: async (tx) => {
        onWrite?.();
        await pending.within(tx);
      },
    });
  } catch (err) {
    pending.discard(); // no-op once the hook ran: its records stand or fall with it
    throw err;
  }
  onWrite?.();
  return { result, records: await pending.settle() };
}

/** For a trail without `prepare`: the records are appended once the write resolved. */
function appendAfter(audit: AuditLog, fields: () => AuditFields[]): PendingAudit {
  return {
    within: async () => {},
    settle: async () => {
      const out: AuditRecord[] = [];
      for (const f of fields()) out.push(await audit.append(f));
      return out;
    },
    discard: () => {},
  };
}
