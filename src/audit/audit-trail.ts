import { UnwrapdError } from '../errors.js';
import type { WriteTransaction } from '../registry/policy-registry.js';
import type { AuditFields, AuditHead, AuditRecord, AuditType, VerifyResult } from './audit-record.js';

/**
 * Where audit records go, and how they are read back. Implementations: the file trail (`audit.log` in the
 * data directory, the embedded default: src/audit/audit-log.ts) and PostgreSQL (`<schema>.audit_records`,
 * beside the policies, shared by a fleet: src/audit/postgres-audit-trail.ts). Both keep one hash chain,
 * ordered by sequence number; neither ever updates or deletes a record.
 */

/** What the services write through: an append, and optionally records that go with a registry write. */
export interface AuditLog {
  /** Appends one record, durably, in its own transaction; resolves with the record as stored. */
  append(fields: AuditFields): Promise<AuditRecord>;
  /**
   * Records that belong to a registry write: pass `within` as the write's `WriteOptions.within`. The file
   * trail appends them under the registry's lock right after the change is durable; PostgreSQL inserts them
   * in the change's transaction (they commit together or not at all). `settle()`, once the write resolved,
   * returns them (and publishes them: listeners, shipping); a registry that never ran the hook gets them
   * appended then. `fields` is read when the hook runs, so it may use what the write decided.
   */
  prepare?(fields: () => AuditFields[]): PendingAudit;
  /** The newest record this process knows of (the file's head; with PostgreSQL, the newest it wrote or read). */
  head(): AuditHead;
  /**
   * Waits for the appends already started, then refuses every new one (`append`, `prepare`) with
   * trailClosed(): nothing is written into the trail once close() resolved. Reads still work.
   */
  close(): Promise<void>;
}

/**
 * What an append to a closed trail is refused with: UNAVAILABLE, AUDIT_UNAVAILABLE (as a trail that cannot
 * write), so the operation it audits fails instead of succeeding unaudited.
 */
export function trailClosed(path: string): UnwrapdError {
  return new UnwrapdError('unavailable', `audit trail ${path} is closed: no record can be appended`, {
    reason: 'AUDIT_UNAVAILABLE',
  });
}

export interface PendingAudit {
  within: (tx: WriteTransaction) => Promise<void>;
  settle(): Promise<AuditRecord[]>;
  /** The write was refused or failed before its hook ran: its records are never written. */
  discard(): void;
}

/** A query of the trail. Every field narrows it; records come in sequence order. */
export interface AuditFilter {
  /** Only these tenants (a tenant-scoped caller's grant); undefined: every tenant. */
  tenants?: readonly string[];
  policyId?: string;
  types?: readonly AuditType[];
  /** RFC 3339, inclusive. */
  since?: string;
  /** RFC 3339, exclusive. */
  until?: string;
  /** The first sequence number to consider (1: from the start). */
  fromSeq?: number;
}

export interface AuditTrail extends AuditLog {
  /** Where the trail is: the file's path, or the PostgreSQL table. */
  readonly path: string;
  /** At most `limit` records matching `filter`, in sequence order. */
  list(filter: AuditFilter, limit: number): Promise<AuditRecord[]>;
  /** Called with each record this process appended, once durable (shipping). */
  onAppend(listener: (record: AuditRecord) => void): () => void;
  /**
   * A follower's cue to read on: called once per append of this process, and with the file trail once per
   * batch of records another process appended to the same file (one shared check of the file while anyone
   * listens). No record is passed: each follower reads from where it is.
   */
  onRecords(listener: () => void): () => void;
  /**
   * How long a follower waits between reads when it was not cued: PostgreSQL 1 s (other instances' rows);
   * the file trail cues for every writer, so this is only the longest timer (src/audit/audit-log.ts).
   */
  readonly followPollMs: number;
  /** The newest record stored now (with PostgreSQL: whichever instance wrote it). */
  latest(): Promise<AuditHead>;
  /** Checks the whole chain (and the head, for the file trail). */
  verify(): Promise<VerifyResult>;
}

/** Does `record` pass `filter`? (The file trail filters in memory; PostgreSQL in SQL, with the same rules.) */
export function matchesFilter(record: AuditRecord, filter: AuditFilter): boolean {
  if (filter.fromSeq !== undefined && record.seq < filter.fromSeq) return false;
  if (filter.tenants !== undefined && !filter.tenants.includes(record.tenant)) return false;
  if (filter.policyId !== undefined && record.policyId !== filter.policyId) return false;
  if (filter.types !== undefined && !filter.types.includes(record.type)) return false;
  if (filter.since !== undefined && Date.parse(record.at) < Date.parse(filter.since)) return false;
  if (filter.until !== undefined && Date.parse(record.at) >= Date.parse(filter.until)) return false;
  return true;
}

/** Listeners of appended records, each isolated from the others' failures. */
export class AppendListeners {
  readonly #listeners = new Set<(record: AuditRecord) => void>();

  add(listener: (record: AuditRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(records: readonly AuditRecord[]): void {
    for (const r of records)
      for (const l of this.#listeners) {
        try {
          l(r);
        } catch {
          // One listener's failure is its own.
        }
      }
  }
}
