import { createHash } from 'node:crypto';

/**
 * An audit record and its hash chain, the same for every backend (the file trail, PostgreSQL): each record
 * carries its sequence number, the time, the SHA-256 of the record before it (`prev`) and its own (`hash`,
 * over the canonical JSON of everything else), so an edited, removed or reordered record breaks the chain.
 * Records never hold key material, plaintext or ciphertext: identifiers, counts, reasons.
 */
export type AuditType =
  | 'policy.created'
  | 'policy.rolled'
  | 'policy.refreshed'
  | 'policy.rotated'
  | 'policy.revoked'
  | 'policy.purged'
  | 'cache.evicted'
  | 'availability_key.used'
  /** A call refused for a missing role, tenant or policy grant (rate-limited: src/auth/denial-audit.ts). */
  | 'access.denied'
  /** An operator recovery refused because a customer key is revoked, or the policy is. */
  | 'recovery.refused'
  | 'availability_key.destroyed';

export const AUDIT_TYPES: readonly AuditType[] = [
  'policy.created',
  'policy.rolled',
  'policy.refreshed',
  'policy.rotated',
  'policy.revoked',
  'policy.purged',
  'cache.evicted',
  'availability_key.used',
  'access.denied',
  'recovery.refused',
  'availability_key.destroyed',
];

export interface AuditFields {
  type: AuditType;
  tenant: string;
  policyId: string;
  keyVersion?: number;
  requestId?: string;
  reason?: string;
  actor?: string;
  /** Extra identifiers (never secrets): counts, key URIs, fingerprints. */
  details?: Record<string, string | number | boolean>;
}

export interface AuditRecord extends AuditFields {
  seq: number;
  at: string;
  prev: string;
  hash: string;
}

export interface AuditHead {
  count: number;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex');
}

/** The record that follows `head`: numbered, timed, chained. */
export function chainRecord(head: AuditHead, fields: AuditFields, at: string): AuditRecord {
  const body: Omit<AuditRecord, 'hash'> = { seq: head.count + 1, at, prev: head.hash, ...fields };
  return { ...body, hash: recordHash(body) };
}

/** JSON with object keys sorted, so a record hashes the same whoever serialises it. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first problem found, naming the record (its line, or its sequence number). */
  problem?: string;
  head?: AuditHead;
  /** The first sequence number checked (1 unless older records were pruned and an anchor given). */
  firstSeq?: number;
  /** Not ok, yet nothing found broken: the chain holds, but what would show a cut at its end is missing. */
  unverified?: boolean;
}

/**
 * Checks records one by one, in the order they are stored: consecutive sequence numbers from `first`, each
 * `prev` the hash of the one before (the first's: `anchor`), each hash matching its content.
 */
export class ChainCheck {
  #prev: string;
  #next: number;
  count = 0;

  constructor(anchor: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }) {
    this.#prev = anchor.hash;
    this.#next = anchor.seq + 1;
  }

  get last(): AuditHead {
    return { count: this.#next - 1, hash: this.#prev };
  }

  /** The problem with `record` (described with `where`), or undefined when it continues the chain. */
  check(record: AuditRecord, where: string): string | undefined {
    if (record.seq !== this.#next)
      return `${where}: sequence ${record.seq}, expected ${this.#next} (a record was removed or reordered)`;
    if (record.prev !== this.#prev)
      return `${where}: previous-hash does not match the record before it (a record was removed or edited)`;
    const { hash, ...body } = record;
    if (recordHash(body) !== hash) return `${where}: record hash does not match its content (the record was edited)`;
    this.#prev = hash;
    this.#next++;
    this.count++;
    return undefined;
  }

  /** Checks JSON lines (one record each, numbered from 1 in problems), stopping at the first problem, which it returns. */
  checkLines(lines: readonly string[]): string | undefined {
    for (const [i, line] of lines.entries()) {
      let record: AuditRecord;
      try {
        record = JSON.parse(line) as AuditRecord;
      } catch {
        return `line ${i + 1}: not valid JSON`;
      }
      const problem = this.check(record, `line ${i + 1}`);
      if (problem) return problem;
    }
    return undefined;
  }
}
