import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { ChainCheck, GENESIS_HASH, type AuditHead, type AuditRecord, type VerifyResult } from './audit-record.js';
import { matchesFilter, type AuditFilter } from './audit-trail.js';

/** Reading the file trail: a query (streamed line by line, never the whole file in memory) and verification. */

/** At most `limit` records of the file at `path` matching `filter`, in order. */
export async function readFileRecords(path: string, filter: AuditFilter, limit: number): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  if (limit <= 0) return out;
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = await new Promise<boolean>((resolve, reject) => {
    stream.once('open', () => resolve(true));
    stream.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(false) : reject(err)));
  });
  if (!opened) return out;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.length === 0) continue;
      // Lines start with {"seq":N: skip those before fromSeq without parsing the rest.
      const seq = Number(/^\{"seq":(\d+),/.exec(line)?.[1] ?? NaN);
      if (filter.fromSeq !== undefined && seq < filter.fromSeq) continue;
      let record: AuditRecord;
      try {
        record = JSON.parse(line) as AuditRecord;
      } catch {
        continue; // a torn last line (a crash mid-append); verify reports anything else
      }
      if (!matchesFilter(record, filter)) continue;
      out.push(record);
      if (out.length >= limit) break;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  return out;
}

export async function readHeadFile(headPath: string): Promise<AuditHead> {
  const text = await readFile(headPath, 'utf8').catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? undefined : Promise.reject(err),
  );
  if (text === undefined) return { count: 0, hash: GENESIS_HASH };
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
  const head = await readHeadFile(`${path}.head`);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const chain = new ChainCheck();
  const problem = chain.checkLines(lines);
  if (problem) return { ok: false, records: chain.count, problem, head };
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
