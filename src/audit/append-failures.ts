import { UnwrapdError, isUnwrapdError } from '../errors.js';
import type { AuditFields } from './audit-record.js';
import type { AuditTrail, PendingAudit } from './audit-trail.js';

/**
 * The trail with its write failures as the domain's error: an append (or a registry write's records) that the
 * file system refuses (disk full, EIO, a permission) is UNAVAILABLE with reason AUDIT_UNAVAILABLE, naming the
 * trail and the system error's code only, instead of a raw error the gRPC edge would answer INTERNAL. Reads
 * are left as they are.
 */
export function appendFailuresUnavailable(trail: AuditTrail): AuditTrail {
  const unavailable = (err: unknown): never => {
    if (isUnwrapdError(err)) throw err;
    const code = (err as { code?: unknown } | null)?.code;
    const why = typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : 'write failed';
    throw new UnwrapdError('unavailable', `audit trail ${trail.path}: cannot append a record (${why})`, {
      reason: 'AUDIT_UNAVAILABLE',
      cause: err,
    });
  };
  const prepare = trail.prepare?.bind(trail);
  return {
    path: trail.path,
    followPollMs: trail.followPollMs,
    append: (fields) => trail.append(fields).catch(unavailable),
    ...(prepare
      ? {
          prepare(fields: () => AuditFields[]): PendingAudit {
            const pending = prepare(fields);
            return {
              within: (tx) => pending.within(tx).catch(unavailable),
              settle: () => pending.settle().catch(unavailable),
              discard: () => pending.discard(),
            };
          },
        }
      : {}),
    head: () => trail.head(),
    latest: () => trail.latest(),
    list: (filter, limit) => trail.list(filter, limit),
    onAppend: (listener) => trail.onAppend(listener),
    onRecords: (listener) => trail.onRecords(listener),
    verify: () => trail.verify(),
    close: () => trail.close(),
  };
}
