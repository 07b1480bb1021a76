import test from 'ava';
import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditLog, type AuditRecord } from '../src/audit/audit-log.js';
import { chainRecord, GENESIS_HASH, type AuditHead } from '../src/audit/audit-record.js';
import { nodeTrailFile, type TrailFile } from '../src/audit/trail-file.js';
import { countingTrailFile } from './helpers/counting-trail-file.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * The file trail's index against a file that changes under its name between the index's look at it and a
 * query's read of it: pruned and renamed over the log (another file now has the name), or rewritten in place
 * (the same file, other bytes). A page is always the records of the file actually read, from the sequence
 * asked, never records skipped.
 */

const lineOf = (r: AuditRecord) => `${JSON.stringify(r)}\n`;

/** `count` chained records, continuing `head`. */
function chain(head: AuditHead, count: number, reason = (_i: number) => ''): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (let i = 0; i < count; i++) {
    const record = chainRecord(
      head,
      { type: 'cache.evicted', tenant: `t${i % 3}`, policyId: `p${head.count + 1}`, reason: reason(head.count + 1) },
      new Date(1_700_000_000_000 + head.count * 1000).toISOString(),
    );
    out.push(record);
    head = { count: record.seq, hash: record.hash };
  }
  return out;
}

async function writeLog(t: { teardown(fn: () => Promise<void>): void }, count: number) {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-audit-replace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  const records = chain({ count: 0, hash: GENESIS_HASH }, count, (seq) => 'x'.repeat(seq % 41));
  await writeFile(path, records.map(lineOf).join(''), { mode: 0o600 });
  const last = records[records.length - 1]!;
  await writeFile(`${path}.head`, JSON.stringify({ count: last.seq, hash: last.hash }), { mode: 0o600 });
  return { path, records };
}

/**
 * The real file system, with `before` run just ahead of the `nth` look at the file (a stat of its name or an
 * open) after `arm()`: 1 = the next one.
 */
function fileChangedBetween(before: () => Promise<void>) {
  let armedAt: number | undefined;
  let calls = 0;
  const call = async () => {
    calls++;
    if (armedAt !== undefined && calls === armedAt) {
      armedAt = undefined;
      await before();
    }
  };
  const file: TrailFile = {
    stat: (path) => call().then(() => nodeTrailFile.stat(path)),
    open: (path) => call().then(() => nodeTrailFile.open(path)),
  };
  return {
    file,
    arm(nth: number) {
      armedAt = calls + nth;
    },
    get armed() {
      return armedAt !== undefined;
    },
  };
}

const seqs = (records: AuditRecord[]) => records.map((r) => r.seq);

for (const nth of [1, 2, 3, 4])
  test(`a log pruned and renamed over the trail just before look #${nth} at the file: the page starts at the sequence asked`, async (t) => {
    const { path, records } = await writeLog(t, 200);
    const prune = async () => {
      // docs/audit.md's pruning: records 1..20 archived, the rest written to a new file renamed over the log.
      await writeFile(`${path}.new`, records.slice(20).map(lineOf).join(''), { mode: 0o600 });
      await rename(`${path}.new`, path);
    };
    const fs = fileChangedBetween(prune);
    const trail = await openAuditLog(path, undefined, { file: fs.file });
    t.teardown(() => trail.close());
    t.deepEqual(seqs(await trail.list({ fromSeq: 150 }, 2)), [150, 151]); // the index knows the old file
    fs.arm(nth);
    for (let pages = 0; fs.armed; pages++) {
      // Each page, before and after the pruning, and the one during which it happens.
      t.deepEqual(seqs(await trail.list({ fromSeq: 100 }, 5)), [100, 101, 102, 103, 104]);
      if (pages > nth) return t.fail('the pruning never happened');
    }
    t.deepEqual(seqs(await trail.list({ fromSeq: 100 }, 5)), [100, 101, 102, 103, 104]);
    t.deepEqual(seqs(await trail.list({ fromSeq: 1 }, 2)), [21, 22]);
    t.deepEqual(seqs(await trail.list({ fromSeq: 199 }, 5)), [199, 200]);
  });

test('a log pruned by rewriting it in place to the same size (same file, other bytes): pages start at the sequence asked', async (t) => {
  const { path, records } = await writeLog(t, 200);
  const trail = await openAuditLog(path);
  t.teardown(() => trail.close());
  t.deepEqual(seqs(await trail.list({ fromSeq: 150 }, 2)), [150, 151]); // the index knows the old bytes
  // Records 1..20 pruned, records 201.. appended so that the file is exactly as long as before.
  const kept = records.slice(20);
  let want = records.slice(0, 20).reduce((n, r) => n + Buffer.byteLength(lineOf(r)), 0);
  const last = records[199]!;
  let head: AuditHead = { count: last.seq, hash: last.hash };
  const base = Buffer.byteLength(lineOf(chain(head, 1)[0]!));
  while (want > 0) {
    const pad = want >= 3 * base ? 0 : want - base; // the last record takes up what is left
    const [record] = chain(head, 1, () => 'y'.repeat(pad));
    kept.push(record!);
    want -= Buffer.byteLength(lineOf(record!));
    head = { count: record!.seq, hash: record!.hash };
  }
  t.is(want, 0);
  await writeFile(path, kept.map(lineOf).join('')); // truncates and rewrites the same inode
  t.deepEqual(seqs(await trail.list({ fromSeq: 100 }, 5)), [100, 101, 102, 103, 104]);
  t.deepEqual(seqs(await trail.list({ fromSeq: 150 }, 2)), [150, 151]);
  t.deepEqual(seqs(await trail.list({ fromSeq: 1 }, 2)), [21, 22]);
});

test('a log truncated and grown again in place (same file, longer): pages start at the sequence asked', async (t) => {
  const { path, records } = await writeLog(t, 200);
  const trail = await openAuditLog(path);
  t.teardown(() => trail.close());
  t.deepEqual(seqs(await trail.list({ fromSeq: 150 }, 2)), [150, 151]);
  const last = records[199]!;
  const more = chain({ count: last.seq, hash: last.hash }, 40);
  await writeFile(path, [...records.slice(20), ...more].map(lineOf).join(''));
  t.deepEqual(seqs(await trail.list({ fromSeq: 100 }, 5)), [100, 101, 102, 103, 104]);
  t.deepEqual(seqs(await trail.list({ fromSeq: 238 }, 5)), [238, 239, 240]);
  t.deepEqual(seqs(await trail.list({ fromSeq: 1 }, 2)), [21, 22]);
});

test('opening a large log reads none of it through the index; appends before the first query read nothing either', async (t) => {
  const { path, records } = await writeLog(t, 20_000);
  const { file, n } = countingTrailFile();
  const trail = await openAuditLog(path, undefined, { file });
  t.teardown(() => trail.close());
  t.is(n.bytes, 0);
  const appended = await trail.append({ type: 'cache.evicted', tenant: 't1', policyId: 'p' });
  t.is(n.bytes, 0);
  t.deepEqual(seqs(await trail.list({ fromSeq: 19_999 }, 5)), [19_999, 20_000, 20_001]);
  const size = records.reduce((sum, r) => sum + Buffer.byteLength(lineOf(r)), 0) + Buffer.byteLength(lineOf(appended));
  t.true(n.bytes >= size, 'the first query built the index');
});

test('a torn line at the end (another writer mid-append) is read once, not again at every check of the file', async (t) => {
  const { path, records } = await writeLog(t, 100);
  const { file, n } = countingTrailFile();
  const trail = await openAuditLog(path, undefined, { file, watchMs: 5 });
  t.teardown(() => trail.close());
  let told = 0;
  const off = trail.onRecords(() => told++);
  t.teardown(off);
  t.deepEqual(await trail.list({ fromSeq: 101 }, 10), []); // a follower's first page
  const last = records[99]!;
  const [next] = chain({ count: last.seq, hash: last.hash }, 1);
  const line = lineOf(next!);
  const half = line.length >> 1;
  await appendFile(path, line.slice(0, half));
  const before = n.bytes;
  const stats = n.stats;
  await waitFor(() => n.stats >= stats + 10, 'ten checks of the file');
  t.log(`torn line of ${half} bytes: ${n.bytes - before} bytes read over ${n.stats - stats} checks`);
  t.true(n.bytes - before <= half, `${n.bytes - before} bytes read`);
  t.is(told, 0, 'no cue for a torn line');
  await appendFile(path, line.slice(half));
  await waitFor(() => told > 0, 'the completed line announced');
  t.deepEqual(seqs(await trail.list({ fromSeq: 101 }, 10)), [101]);
});
