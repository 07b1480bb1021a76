import { open, stat, truncate } from 'node:fs/promises';
import { writeFileAtomic } from '../storage/atomic-file.js';
import { withFileLock } from '../storage/file-lock.js';
import { chainRecord, type AuditFields, type AuditHead, type AuditRecord } from './audit-record.js';
import { AppendListeners, trailClosed, type AuditTrail, type PendingAudit } from './audit-trail.js';
import { FileTrailIndex, type IndexBounds } from './file-trail-index.js';
import { readFileRecords, readHeadFile, verifyAuditLog } from './file-trail-reader.js';
import { nodeTrailFile, type TrailFile } from './trail-file.js';
import { watchTrail } from './trail-watch.js';

export {
  AUDIT_TYPES,
  canonicalJson,
  GENESIS_HASH,
  recordHash,
  type AuditFields,
  type AuditHead,
  type AuditRecord,
  type AuditType,
  type VerifyResult,
} from './audit-record.js';
export type { AuditLog, AuditTrail } from './audit-trail.js';
export { verifyAuditLog } from './file-trail-reader.js';

/**
 * The file trail, the embedded default: JSON lines, each carrying the SHA-256 of the previous record, so an
 * edit or a cut in the middle breaks the chain; a head file (count and newest hash, replaced atomically after
 * each append) makes a cut at the end visible too. An append is durable (fsync) before it resolves, so an
 * operation is acknowledged only after its record is on disk. Records never hold key material.
 *
 * The records of a registry write (`prepare`) are appended under the registry's lock right after the change
 * is durable: two files cannot change atomically, so a crash between the two leaves the change without its
 * record (the PostgreSQL trail commits them together).
 *
 * close() refuses new appends and prepares (trailClosed), then waits for the appends under way and for the
 * registry writes already prepared (their records are appended, or dropped when the write is refused): nothing
 * is written into the data directory after it resolved, and no applied change is left without its records.
 *
 * Queries go through an index of where records start (file-trail-index.ts), so a page reads from near its
 * first record instead of from byte 0. Followers are told of new records (`onRecords`) once per append of this
 * process, and once per batch another process appended to the same file (one stat of the file every
 * `watchMs` while anyone follows, whatever their number); they need no poll of their own.
 */
export async function openAuditLog(
  path: string,
  now: () => Date = () => new Date(),
  opts: FileTrailOptions = {},
): Promise<AuditTrail> {
  const headPath = `${path}.head`;
  const file = opts.file ?? nodeTrailFile;
  let head = await recoverHead(path, await readHeadFile(headPath));
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  /**
   * Registry writes whose records were prepared: each settles once its records are appended or its write was
   * refused. close() waits for them: a change the registry applied is never left without its records.
   */
  const accepted = new Set<Promise<void>>();
  const listeners = new AppendListeners();
  const index = new FileTrailIndex(path, file, opts.index);
  await index.poll(); // one stat: the index is built by the first query (a multi-GB log does not delay opening)
  const watch = watchTrail(index, opts.watchMs ?? FILE_WATCH_MS);

  const appendNow = async (fields: AuditFields): Promise<AuditRecord> =>
    withFileLock(`${path}.lock`, async () => {
      head = await recoverHead(path, await readHeadFile(headPath)); // another process may have appended
      const record = chainRecord(head, fields, now().toISOString());
      const fh = await open(path, 'a', 0o600);
      try {
        await fh.appendFile(`${JSON.stringify(record)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      head = { count: record.seq, hash: record.hash };
      await writeFileAtomic(headPath, JSON.stringify(head), 0o600);
      await watch.indexAppended(); // reads the new line(s) only
      return record;
    });

  const enqueue = (fields: AuditFields): Promise<AuditRecord> => {
    const result = queue.then(() => appendNow(fields));
    queue = result.catch(() => {});
    return result.then((record) => {
      listeners.emit([record]);
      watch.announce();
      return record;
    });
  };

  const append = (fields: AuditFields): Promise<AuditRecord> =>
    closed ? Promise.reject(trailClosed(path)) : enqueue(fields);

  return {
    path,
    followPollMs: FOLLOWER_POLL_MS,
    append,
    prepare(fields: () => AuditFields[]): PendingAudit {
      if (closed) throw trailClosed(path); // before the registry writes anything
      // Accepted: the registry may apply the change now, so its records are appended even if close() begins
      // before its hook runs; close() waits until they are, or until the write was refused (discard).
      let appended: Promise<AuditRecord[]> | undefined;
      let finished!: () => void;
      const outcome = new Promise<void>((resolve) => (finished = resolve));
      accepted.add(outcome);
      void outcome.then(() => accepted.delete(outcome));
      const run = (): Promise<AuditRecord[]> => {
        const running = (async () => {
          const out: AuditRecord[] = [];
          for (const f of fields()) out.push(await enqueue(f));
          return out;
        })();
        void running.then(finished, finished);
        return running;
      };
      return {
        within: async () => {
          appended = run();
          await appended;
        },
        settle: () => (appended ??= run()),
        discard: () => finished(),
      };
    },
    head: () => head,
    latest: async () => head,
    list: (filter, limit) => readFileRecords(path, filter, limit, { file, index }),
    onAppend: (listener) => listeners.add(listener),
    onRecords: (listener) => watch.add(listener),
    verify: () => verifyAuditLog(path),
    async close() {
      closed = true;
      await Promise.allSettled([...accepted]);
      await queue;
      watch.close();
    },
  };
}

export interface FileTrailOptions {
  /** The file system as read by queries (tests count the bytes read through it). */
  file?: TrailFile;
  index?: IndexBounds;
  /** How often the file is checked for records another process appended, while anyone follows. */
  watchMs?: number;
}

/** While anyone follows, the file is checked this often for records another process appended (one stat). */
export const FILE_WATCH_MS = 1_000;
/**
 * A follower of the file trail is woken by `onRecords` (for every writer of the file), so its own poll is
 * only the longest timer Node.js keeps (about 24.8 days).
 */
export const FOLLOWER_POLL_MS = 2_147_483_647;

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
