import test from 'ava';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openAuditLog, verifyAuditLog } from '../src/audit/audit-log.js';

const run = promisify(execFile);
const CLI = new URL('../bin/unwrapd.js', import.meta.url).pathname;

async function logWith(t: { teardown(fn: () => Promise<void>): void }, n: number) {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true })); // on failure too
  const path = join(dir, 'audit.log');
  const log = await openAuditLog(path);
  for (let i = 0; i < n; i++)
    await log.append({ type: 'policy.created', tenant: 'demo', policyId: `p${i}`, requestId: `r${i}` });
  await log.close();
  return { dir, path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const lines = async (path: string) => (await readFile(path, 'utf8')).trimEnd().split('\n');

test('an intact audit log verifies, each record chained to the one before', async (t) => {
  const { path, cleanup } = await logWith(t, 5);
  const result = await verifyAuditLog(path);
  t.true(result.ok);
  t.is(result.records, 5);
  const records = (await lines(path)).map((l) => JSON.parse(l) as { seq: number; prev: string; hash: string });
  for (let i = 1; i < records.length; i++) t.is(records[i]!.prev, records[i - 1]!.hash);
  await cleanup();
});

test('an edited record is detected', async (t) => {
  const { path, cleanup } = await logWith(t, 5);
  const l = await lines(path);
  l[2] = l[2]!.replace('"p2"', '"pX"');
  await writeFile(path, `${l.join('\n')}\n`);
  const result = await verifyAuditLog(path);
  t.false(result.ok);
  t.regex(result.problem!, /line 3: record hash does not match/);
  await cleanup();
});

test('a record cut from the middle is detected', async (t) => {
  const { path, cleanup } = await logWith(t, 5);
  const l = await lines(path);
  l.splice(1, 1);
  await writeFile(path, `${l.join('\n')}\n`);
  const result = await verifyAuditLog(path);
  t.false(result.ok);
  t.regex(result.problem!, /line 2: sequence 3, expected 2/);
  await cleanup();
});

test('a cut at the end is detected through the head', async (t) => {
  const { path, cleanup } = await logWith(t, 5);
  const l = await lines(path);
  await writeFile(path, `${l.slice(0, 3).join('\n')}\n`);
  const result = await verifyAuditLog(path);
  t.false(result.ok);
  t.regex(result.problem!, /holds 3 records but its head says 5/);
  await cleanup();
});

test("a log whose head file is gone is unverified, never ok, and the daemon's verify says so as the CLI does", async (t) => {
  const { path, cleanup } = await logWith(t, 4);
  await rm(`${path}.head`);
  const result = await verifyAuditLog(path);
  t.false(result.ok);
  t.true(result.unverified);
  t.is(result.records, 4);
  t.regex(result.problem!, /head file .*audit\.log\.head is missing/);
  // Cut at the end as well: without the head nothing can show it, so the answer stays "unverified".
  await writeFile(path, `${(await lines(path)).slice(0, 2).join('\n')}\n`);
  const cut = await verifyAuditLog(path);
  t.false(cut.ok);
  t.true(cut.unverified);
  await cleanup();
});

test('a crash mid-append (a torn last line) is repaired on the next append and the chain stays whole', async (t) => {
  const { path, cleanup } = await logWith(t, 3);
  await appendFile(path, '{"seq":4,"at":"2026-');
  const log = await openAuditLog(path);
  const record = await log.append({ type: 'policy.revoked', tenant: 'demo', policyId: 'p9' });
  t.is(record.seq, 4);
  await log.close();
  t.true((await verifyAuditLog(path)).ok);
  await cleanup();
});

test('unwrapd audit verify exits 0 on an intact log and 1 with the problem on a broken one', async (t) => {
  const { path, cleanup } = await logWith(t, 3);
  t.regex((await run('node', [CLI, 'audit', 'verify', '--file', path])).stdout, /^ok: 3 records/);
  const l = await lines(path);
  l[0] = l[0]!.replace('"r0"', '"forged"');
  await writeFile(path, `${l.join('\n')}\n`);
  const err = await run('node', [CLI, 'audit', 'verify', '--file', path]).catch(
    (e: { code: number; stdout: string }) => e,
  );
  t.is((err as { code: number }).code, 1);
  t.regex((err as { stdout: string }).stdout, /^BROKEN: line 1/);
  await cleanup();
});

test('concurrent appends are serialised: the chain has no gaps or duplicates', async (t) => {
  const { path, cleanup } = await logWith(t, 0);
  const log = await openAuditLog(path);
  await Promise.all(
    Array.from({ length: 40 }, (_, i) => log.append({ type: 'cache.evicted', tenant: 'demo', policyId: `p${i}` })),
  );
  await log.close();
  const result = await verifyAuditLog(path);
  t.true(result.ok);
  t.is(result.records, 40);
  await cleanup();
});
