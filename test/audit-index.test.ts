import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openAuditLog, type AuditRecord } from '../src/audit/audit-log.js';
import { chainRecord, GENESIS_HASH, type AuditHead } from '../src/audit/audit-record.js';
import type { AuditFilter } from '../src/audit/audit-trail.js';
import { matchesFilter } from '../src/audit/audit-trail.js';
import { PAGE_CHUNK } from '../src/audit/file-trail-reader.js';
import { INDEX_STRIDE, INDEX_TAIL } from '../src/audit/file-trail-index.js';
import { countingTrailFile } from './helpers/counting-trail-file.js';
import { waitFor } from './helpers/wait-for.js';

const run = promisify(execFile);
const AUDIT_LOG = fileURLToPath(new URL('../src/audit/audit-log.ts', import.meta.url));
const APPEND_THREE = `
const { openAuditLog } = await import(process.argv[1]);
const log = await openAuditLog(process.argv[2]);
for (let i = 0; i < 3; i++) await log.append({ type: 'policy.revoked', tenant: 't1', policyId: 'p' });
await log.close();`;

/**
 * The file trail's index: a page is read from near its first record (the bytes read are counted through an
 * injected reader), pages are the same as a scan from byte 0 would give, across the sparse entries and when
 * they are thinned; followers are told of new records once per append, and of another writer's records.
 */

/** A trail file of `count` chained records written at once (appending thousands of records one by one takes minutes). */
async function writeLog(t: { teardown(fn: () => Promise<void>): void }, count: number) {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-audit-index-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  let head: AuditHead = { count: 0, hash: GENESIS_HASH };
  const records: AuditRecord[] = [];
  for (let i = 0; i < count; i++) {
    const record = chainRecord(
      head,
      {
        type: i % 3 === 0 ? 'availability_key.used' : 'cache.evicted',
        tenant: `t${i % 5}`,
        policyId: `p${i}`,
        requestId: `r${i}`,
        reason: 'x'.repeat(i % 97), // lines of different lengths
      },
      new Date(1_700_000_000_000 + i * 1000).toISOString(),
    );
    records.push(record);
    head = { count: record.seq, hash: record.hash };
  }
  const lines = records.map((r) => `${JSON.stringify(r)}\n`);
  await writeFile(path, lines.join(''), { mode: 0o600 });
  await writeFile(`${path}.head`, JSON.stringify(head), { mode: 0o600 });
  return { path, records, lineBytes: lines.map((l) => Buffer.byteLength(l)) };
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

test('a page from the end of a 4,000-record log reads that page only; one from the middle at most a stride more', async (t) => {
  // 4,000 records: the middle page is well before the exactly indexed tail (the newest INDEX_TAIL to 2 * INDEX_TAIL
  // records, 1,024 to 2,048), so it is found through the sparse checkpoints, and the log is over ten times the
  // middle page's bound, so a read of the whole log fails both bounds.
  const { path, records, lineBytes } = await writeLog(t, 4_000);
  t.true(1_099 <= 4_000 - 2 * INDEX_TAIL, 'the middle page is before the exact tail, however it is trimmed');
  const { file, n } = countingTrailFile();
  const trail = await openAuditLog(path, undefined, { file });
  t.teardown(() => trail.close());
  t.is(n.bytes, 0, 'opening the trail reads nothing through the index');
  t.deepEqual(await trail.list({ fromSeq: 4_001 }, 1), []);
  t.is(n.bytes, sum(lineBytes), 'the first query builds the index by one scan of the file');

  n.bytes = 0;
  const end = await trail.list({ fromSeq: 3_901 }, 100);
  t.deepEqual(
    end.map((r) => r.seq),
    records.slice(3_900).map((r) => r.seq),
  );
  const pageBytes = sum(lineBytes.slice(3_900));
  t.log(`page 3901..4000: ${n.bytes} bytes read (the page is ${pageBytes} bytes, the log ${sum(lineBytes)})`);
  t.is(n.bytes, pageBytes, 'exactly the page: the newest records are indexed one by one');

  n.bytes = 0;
  const middle = await trail.list({ fromSeq: 1_000 }, 100);
  t.deepEqual(middle, records.slice(999, 1_099));
  const bound = sum(lineBytes.slice(999 - (INDEX_STRIDE - 1), 1_099)) + PAGE_CHUNK;
  t.log(`page 1000..1099: ${n.bytes} bytes read (bound ${bound})`);
  t.true(n.bytes <= bound, `${n.bytes} bytes read`);

  n.bytes = 0;
  t.deepEqual(await trail.list({ fromSeq: 4_001 }, 100), []);
  t.is(n.bytes, 0, 'past the end: nothing read');
});

test('pages are those of a scan from byte 0, across sparse entries, thinned entries and the exact tail', async (t) => {
  const { path, records } = await writeLog(t, 300);
  // A tiny index: every 4th line, at most 8 entries (thinned twice over 300 lines), the newest 5 to 10 exactly.
  const trail = await openAuditLog(path, undefined, { index: { stride: 4, maxCheckpoints: 8, tail: 5 } });
  t.teardown(() => trail.close());
  const filters: AuditFilter[] = [{}, { tenants: ['t2'] }, { types: ['availability_key.used'], tenants: ['t1', 't3'] }];
  for (const filter of filters)
    for (let from = 1; from <= 302; from++) {
      // The scan's answer for this filter and start, once; each limit is a prefix of it.
      const query = { ...filter, fromSeq: from };
      const scan = records.filter((r) => matchesFilter(r, query)).slice(0, 50);
      for (const limit of [1, 3, 50]) {
        const got = await trail.list(query, limit);
        if (JSON.stringify(got) !== JSON.stringify(scan.slice(0, limit)))
          return t.fail(`from ${from}, limit ${limit}, ${JSON.stringify(filter)}: ${got.map((r) => r.seq).join()}`);
      }
    }
  // Appended records are indexed as they come (crossing entries and the tail's turnover).
  for (let i = 0; i < 30; i++) records.push(await trail.append({ type: 'cache.evicted', tenant: 't2', policyId: 'q' }));
  for (let from = 280; from <= 331; from++)
    t.deepEqual(
      (await trail.list({ fromSeq: from }, 7)).map((r) => r.seq),
      records.slice(from - 1, from + 6).map((r) => r.seq),
    );
  t.true((await trail.verify()).ok);
});

test('an append tells every follower once; with nothing appended, nothing is read', async (t) => {
  const { path } = await writeLog(t, 500);
  const { file, n } = countingTrailFile();
  const trail = await openAuditLog(path, undefined, { file, watchMs: 5 });
  t.teardown(() => trail.close());
  const told = Array.from({ length: 200 }, () => 0);
  const offs = told.map((_, i) => trail.onRecords(() => told[i]!++));
  t.teardown(() => offs.forEach((off) => off()));
  t.deepEqual(await trail.list({ fromSeq: 501 }, 1000), []); // the followers' first page (builds the index)

  // Idle: the watch stats the file once an interval, for all 200 listeners together, and reads nothing.
  const start = { ...n };
  await waitFor(() => n.stats >= start.stats + 5, 'five checks of the file');
  t.is(n.bytes, start.bytes);
  t.is(n.reads, start.reads);
  t.true(n.stats - start.stats < 20, `${n.stats - start.stats} stats`);
  t.true(
    told.every((c) => c === 0),
    'no cue without a record',
  );

  const record = await trail.append({ type: 'cache.evicted', tenant: 't1', policyId: 'p' });
  t.true(
    told.every((c) => c === 1),
    'each listener told once',
  );
  // Several more watch intervals: still once.
  const after = n.stats;
  await waitFor(() => n.stats >= after + 5, 'five more checks');
  t.true(told.every((c) => c === 1));
  const before = n.bytes;
  t.deepEqual(await trail.list({ fromSeq: 501 }, 1000), [record]);
  t.is(n.bytes - before, Buffer.byteLength(`${JSON.stringify(record)}\n`), 'a follower reads the new line only');
});

test('records another process appends to the same file are listed and announced', async (t) => {
  const { path, records } = await writeLog(t, 100);
  const reader = await openAuditLog(path, undefined, { watchMs: 5 });
  t.teardown(() => reader.close());
  let told = 0;
  const cued = new Promise<void>((resolve) =>
    reader.onRecords(() => {
      told++;
      resolve();
    }),
  );
  // Another process: its own trail on the same file (the file's lock, chained to the newest record).
  await run(process.execPath, ['--import=tsx', '--input-type=module', '-e', APPEND_THREE, AUDIT_LOG, path]);
  await cued;
  t.true(told >= 1 && told <= 3, `${told} cues`);
  const listed = await reader.list({ fromSeq: 99 }, 10);
  t.deepEqual(listed.slice(0, 2), records.slice(98));
  t.deepEqual(
    listed.slice(2).map((r) => [r.seq, r.type]),
    [101, 102, 103].map((seq) => [seq, 'policy.revoked']),
  );
  // This process's next append chains after them.
  const next = await reader.append({ type: 'cache.evicted', tenant: 't1', policyId: 'p' });
  t.is(next.seq, 104);
  t.is(next.prev, listed[4]!.hash);
  t.true((await reader.verify()).ok);
});

test('a file replaced under its name is indexed again from byte 0', async (t) => {
  const { path, records } = await writeLog(t, 200);
  const trail = await openAuditLog(path);
  t.teardown(() => trail.close());
  t.is((await trail.list({ fromSeq: 150 }, 1))[0]?.seq, 150);
  // Pruned as docs/audit.md describes (records 1..120 archived): the same name, a shorter file.
  const kept = records.slice(120);
  await writeFile(`${path}.new`, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  await rename(`${path}.new`, path);
  t.deepEqual(
    (await trail.list({ fromSeq: 1 }, 2)).map((r) => r.seq),
    [121, 122],
  );
  t.deepEqual(
    (await trail.list({ fromSeq: 150 }, 1)).map((r) => r.seq),
    [150],
  );
});

test('a file whose sequence numbers do not increase (damaged) is read from byte 0, as a scan would', async (t) => {
  const { path, records } = await writeLog(t, 150);
  const lines = records.map((r) => JSON.stringify(r));
  [lines[100], lines[101]] = [lines[101]!, lines[100]!]; // two records swapped: verify names it, queries still answer
  await writeFile(path, `${lines.join('\n')}\n`);
  const { file, n } = countingTrailFile();
  const trail = await openAuditLog(path, undefined, { file, index: { stride: 4 } });
  t.teardown(() => trail.close());
  const inFile = lines.map((l) => JSON.parse(l) as AuditRecord);
  for (const from of [1, 50, 101, 102, 103, 140])
    t.deepEqual(await trail.list({ fromSeq: from }, 5), inFile.filter((r) => r.seq >= from).slice(0, 5));
  n.bytes = 0;
  await trail.list({ fromSeq: 140 }, 5);
  t.true(n.bytes >= sum(lines.slice(0, 139).map((l) => l.length + 1)), 'from byte 0');
  t.false((await trail.verify()).ok);
});
