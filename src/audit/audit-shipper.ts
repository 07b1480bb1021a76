import { createWriteStream, type WriteStream } from 'node:fs';
import type { AuditRecord } from './audit-record.js';
import type { AuditTrail } from './audit-trail.js';

/**
 * Shipping: each record this process appends, once durable, also as one JSON line (docs/audit.md, "The
 * JSON-lines schema") to stdout or to a file, for log shippers (Fluent Bit, Vector) and SIEMs. The line is
 * the record with `"schema": "unwrapd.audit.v1"` added; without `schema` it is the record as hashed. With
 * PostgreSQL each instance ships what it writes. Shipping is best effort next to the trail (the trail is
 * the record of truth): a line that cannot be written is counted, never blocks or fails an operation.
 */
export const SHIPPED_SCHEMA = 'unwrapd.audit.v1';

export interface AuditShipper {
  /** Lines that could not be written. */
  readonly failures: number;
  close(): Promise<void>;
}

export function shippedLine(record: AuditRecord): string {
  return `${JSON.stringify({ schema: SHIPPED_SCHEMA, ...record })}\n`;
}

/** `target`: `stdout`, a file path (appended to, mode 0600), or empty (off). */
export function startAuditShipping(trail: AuditTrail, target: string): AuditShipper | undefined {
  if (!target) return undefined;
  let failures = 0;
  const file: WriteStream | undefined =
    target === 'stdout' ? undefined : createWriteStream(target, { flags: 'a', mode: 0o600 });
  file?.on('error', () => failures++);
  const off = trail.onAppend((record) => {
    try {
      if (file) file.write(shippedLine(record));
      else process.stdout.write(shippedLine(record));
    } catch {
      failures++;
    }
  });
  return {
    get failures() {
      return failures;
    },
    async close() {
      off();
      if (file) await new Promise<void>((resolve) => file.end(() => resolve()));
    },
  };
}
