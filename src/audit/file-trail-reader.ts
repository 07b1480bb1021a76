import { readFile } from 'node:fs/promises';
import { ChainCheck, GENESIS_HASH, type AuditHead, type AuditRecord, type VerifyResult } from './audit-record.js';
import { matchesFilter, type AuditFilter } from './audit-trail.js';
import { FileTrailIndex } from './file-trail-index.js';
import { forEachLine, nodeTrailFile, type TrailFile } from './trail-file.js';

/** Reading the file trail: a query (through the index, never the whole file in memory) and verification. */

/** Bytes per read of a query: a page reads at most this much past its last record. */
export const PAGE_CHUNK = 16 * 1024;

/** The file trail's reader and index (an open trail's own; else one of `sharedIndexes`'s). */
export interface IndexedFile {
  file: TrailFile;
  index: FileTrailIndex;
}

/**
 * At most `limit` records of the file at `path` matching `filter`, in order: read from where the index puts
 * `filter.fromSeq` (refreshed first, so records just appended, by any process, are seen), and only until
 * `limit` records matched. Without `at` (a reader with no open trail: `unwrapd audit export`), the index is
 * kept between calls for the few files read last, so paging through a file scans it once.
 */
export async function readFileRecords(
  path: string,
  filter: AuditFilter,
  limit: number,
  at: IndexedFile = sharedIndex(path),
): Promise<AuditRecord[]> {
  const { file, index } = at;
  const out: AuditRecord[] = [];
  if (limit <= 0) return out;
  const fromSeq = filter.fromSeq ?? 1;
  // Opened first, then indexed: the offsets used must be those of the file read, and the name may pass to
  // another file (pruned and renamed over the log) at any moment; its own stat says which file was opened.
  const fh = await file.open(path);
  if (!fh) return out;
  try {
    const opened = await fh.stat();
    await index.refresh();
    const indexed = index.identity === opened.identity && index.end <= opened.size;
    const span = indexed ? index.span(fromSeq) : { from: 0, to: opened.size, seq: undefined };
    const onLine = (bytes: Buffer) => {
      const line = bytes.toString('utf8');
      // Lines start with {"seq":N: skip those before fromSeq without parsing the rest.
      const seq = Number(/^\{"seq":(\d+),/.exec(line)?.[1] ?? NaN);
      if (filter.fromSeq !== undefined && seq < filter.fromSeq) return false;
      let record: AuditRecord;
      try {
        record = JSON.parse(line) as AuditRecord;
      } catch {
        return false; // verify reports a damaged line
      }
      if (!matchesFilter(record, filter)) return false;
      out.push(record);
      return out.length >= limit;
    };
    let rewritten = false;
    await forEachLine(fh, span.from, span.to, PAGE_CHUNK, (bytes, offset) => {
      // The line at an indexed offset is the record indexed there, unless the file was rewritten in place.
      if (offset === span.from && span.seq !== undefined && seqAt(bytes) !== span.seq) return (rewritten = true);
      return onLine(bytes);
    });
    if (rewritten) {
      index.invalidate();
      await forEachLine(fh, 0, opened.size, PAGE_CHUNK, onLine);
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** N of a line starting `{"seq":N,`, else NaN. */
function seqAt(line: Buffer): number {
  return Number(/^\{"seq":(\d+),/.exec(line.subarray(0, 32).toString('latin1'))?.[1] ?? NaN);
}

const SHARED_INDEXES = 4;
const sharedIndexes = new Map<string, IndexedFile>();

function sharedIndex(path: string): IndexedFile {
  let at = sharedIndexes.get(path);
  if (at) sharedIndexes.delete(path);
  else at = { file: nodeTrailFile, index: new FileTrailIndex(path, nodeTrailFile) };
  sharedIndexes.set(path, at); // the newest last
  if (sharedIndexes.size > SHARED_INDEXES) sharedIndexes.delete(sharedIndexes.keys().next().value!);
  return at;
}

export async function readHeadFile(headPath: string): Promise<AuditHead> {
  return (await readHeadFileIfAny(headPath)) ?? { count: 0, hash: GENESIS_HASH };
}

async function readHeadFileIfAny(headPath: string): Promise<AuditHead | undefined> {
  const text = await readFile(headPath, 'utf8').catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? undefined : Promise.reject(err),
  );
  if (text === undefined) return undefined;
  const parsed = JSON.parse(text) as AuditHead;
  if (!Number.isInteger(parsed.count) || typeof parsed.hash !== 'string')
    throw new Error(`audit head ${headPath} is malformed`);
  return parsed;
}

/** Checks the whole chain and the head: an edited, removed, reordered or appended-by-hand record, or a cut tail. */
export async function verifyAuditLog(path: string): Promise<VerifyResult> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? '' : Promise.reject(err),
  );
  const headPath = `${path}.head`;
  const headFile = await readHeadFileIfAny(headPath);
  const head = headFile ?? { count: 0, hash: GENESIS_HASH };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const chain = new ChainCheck();
  const problem = chain.checkLines(lines);
  if (problem) return { ok: false, records: chain.count, problem, head };
  if (headFile === undefined && chain.count > 0)
    return {
      ok: false,
      unverified: true,
      records: chain.count,
      problem: `the head file ${headPath} is missing: it holds the newest record's sequence number and hash, and without it a cut at the end of the log cannot be detected (the ${chain.count} records present chain correctly). Keep the log and its head file together (copy or restore both)`,
    };
  const count = chain.count;
  const prev = chain.last.hash;
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
