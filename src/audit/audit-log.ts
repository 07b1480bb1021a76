import { createHash } from 'node:crypto';
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { writeFileAtomic } from '../storage/atomic-file.js';
import { withFileLock } from '../storage/file-lock.js';

/**
 * The append-only audit log: JSON lines, each carrying the SHA-256 of the previous record, so an edit or a
 * cut in the middle breaks the chain; a head file (count and newest hash, replaced atomically after each
 * append) makes a cut at the end visible too. An append is durable (fsync) before it resolves, so an
 * operation is acknowledged only after its record is on disk. Records never hold key material.
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
  /** An operator recovery refused because a customer key is revoked, or the policy is (issue 10). */
  | 'recovery.refused'
  | 'availability_key.destroyed';

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

export interface AuditLog {
  readonly path: string;
  append(fields: AuditFields): Promise<AuditRecord>;
  head(): AuditHead;
  close(): Promise<void>;
}

export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex');
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

export async function openAuditLog(path: string, now: () => Date = () => new Date()): Promise<AuditLog> {
  const headPath = `${path}.head`;
  let head = await recoverHead(path, await readHead(headPath));
  let queue: Promise<unknown> = Promise.resolve();

  const appendNow = async (fields: AuditFields): Promise<AuditRecord> =>
    withFileLock(`${path}.lock`, async () => {
      head = await recoverHead(path, await readHead(headPath)); // another process may have appended
      const body: Omit<AuditRecord, 'hash'> = {
        seq: head.count + 1,
        at: now().toISOString(),
        prev: head.hash,
        ...fields,
      };
      const record: AuditRecord = { ...body, hash: recordHash(body) };
      const fh = await open(path, 'a', 0o600);
      try {
        await fh.appendFile(`${JSON.stringify(record)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      head = { count: record.seq, hash: record.hash };
      await writeFileAtomic(headPath, JSON.stringify(head), 0o600);
      return record;
    });

  return {
    path,
    append(fields) {
      const result = queue.then(() => appendNow(fields));
      queue = result.catch(() => {});
      return result;
    },
    head: () => head,
    async close() {
      await queue;
    },
  };
}

/**
 * After a crash the log may end in a torn line (never acknowledged: cut it off) or hold one record the head
 * does not know yet (appended and synced, head not yet replaced: adopt it).
 */
async function recoverHead(path: string, head: AuditHead): Promise<AuditHead> {
  const size = await stat(path).then(
    (s) => s.size,
    () => 0,
  );
  if (size === 0) return head;
  const fh = await open(path, 'r');
  let tail: string;
  try {
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    tail = buf.toString('utf8');
  } finally {
    await fh.close();
  }
  if (!tail.endsWith('\n')) {
    const lastNewline = tail.lastIndexOf('\n');
    await truncate(path, lastNewline < 0 ? size - tail.length : size - (tail.length - lastNewline - 1));
    tail = lastNewline < 0 ? '' : tail.slice(0, lastNewline + 1);
  }
  const lines = tail.split('\n').filter((l) => l.length > 0);
  const last = lines[lines.length - 1];
  if (!last) return head;
  try {
    const record = JSON.parse(last) as AuditRecord;
    if (record.seq === head.count + 1 && record.prev === head.hash) return { count: record.seq, hash: record.hash };
  } catch {
    // leave the head as it is; verify reports the damage
  }
  return head;
}

async function readHead(headPath: string): Promise<AuditHead> {
  const text = await readFile(headPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return { count: 0, hash: GENESIS_HASH };
  const parsed = JSON.parse(text) as AuditHead;
  if (!Number.isInteger(parsed.count) || typeof parsed.hash !== 'string')
    throw new Error(`audit head ${headPath} is malformed`);
  return parsed;
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first problem found, with its line number (1-based). */
  problem?: string;
  head?: AuditHead;
}

/** Checks the whole chain and the head: an edited, removed, reordered or appended-by-hand record, or a cut tail. */
export async function verifyAuditLog(path: string): Promise<VerifyResult> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? '' : Promise.reject(err),
  );
  const head = await readHead(`${path}.head`);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev = GENESIS_HASH;
  let count = 0;
  for (const [i, line] of lines.entries()) {
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, records: count, problem: `line ${i + 1}: not valid JSON`, head };
    }
    if (record.seq !== count + 1)
      return {
        ok: false,
        records: count,
        problem: `line ${i + 1}: sequence ${record.seq}, expected ${count + 1} (a record was removed or reordered)`,
        head,
      };
    if (record.prev !== prev)
      return {
        ok: false,
        records: count,
        problem: `line ${i + 1}: previous-hash does not match the record before it (a record was removed or edited)`,
        head,
      };
    const { hash, ...body } = record;
    if (recordHash(body) !== hash)
      return {
        ok: false,
        records: count,
        problem: `line ${i + 1}: record hash does not match its content (the record was edited)`,
        head,
      };
    prev = hash;
    count++;
  }
  if (count < head.count)
    return {
      ok: false,
      records: count,
      problem: `the log holds ${count} records but its head says ${head.count} (the end was cut)`,
      head,
    };
  if (count === head.count && prev !== head.hash)
    return {
      ok: false,
      records: count,
      problem: 'the newest record does not match the head (the end was replaced)',
      head,
    };
  // count > head.count by one: a crash between the append and the head update; the chain itself is intact.
  if (count > head.count + 1)
    return {
      ok: false,
      records: count,
      problem: `the log holds ${count - head.count} records more than its head (records were appended by hand)`,
      head,
    };
  return { ok: true, records: count, head };
}
