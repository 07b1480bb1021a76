import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditLog } from '../src/audit/audit-log.js';
import { runCliInProcess } from './helpers/run-cli.js';

/** `unwrapd audit export --from N --to M` and `audit verify --export FILE`: an archive that verifies on its own. */
// The CLI runs in-process (runCliInProcess); the executable in a process: cli-usage.test.ts.
const cli = (args: string[]) =>
  runCliInProcess(args).then((r) => ({ code: r.code, stdout: r.code === 0 ? r.stdout : r.stdout + r.stderr }));

test('an export of a range verifies against its checkpoint; an edited, removed or cut archive does not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-export-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  const log = await openAuditLog(path);
  for (let i = 1; i <= 10; i++) await log.append({ type: 'cache.evicted', tenant: 'demo', policyId: `p${i}` });
  await log.close();
  const records = (await readFile(path, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; hash: string; prev: string });

  const archive = join(dir, 'export-3-7.jsonl');
  t.is((await cli(['audit', 'export', '--file', path, '--from', '3', '--to', '7', '--out', archive])).code, 0);
  const lines = (await readFile(archive, 'utf8')).trimEnd().split('\n');
  t.is(lines.length, 6, 'five records and the checkpoint');
  const checkpoint = (JSON.parse(lines[5]!) as { checkpoint: Record<string, unknown> }).checkpoint;
  t.like(checkpoint, { firstSeq: 3, lastSeq: 7, count: 5, prevHash: records[1]!.hash, lastHash: records[6]!.hash });
  t.regex((await cli(['audit', 'verify', '--export', archive])).stdout, /^ok: 5 records \(3\.\.7\)/);

  const tampered = async (edit: (l: string[]) => string[]) => {
    const p = join(dir, `tampered-${Math.random().toString(36).slice(2)}.jsonl`);
    await writeFile(p, `${edit([...lines]).join('\n')}\n`);
    return cli(['audit', 'verify', '--export', p]);
  };
  let out = await tampered((l) => ((l[1] = l[1]!.replace('"p4"', '"pX"')), l));
  t.is(out.code, 1);
  t.regex(out.stdout, /line 2: record hash does not match/);
  out = await tampered((l) => (l.splice(2, 1), l));
  t.is(out.code, 1);
  t.regex(out.stdout, /line 3: sequence 6, expected 5/);
  out = await tampered((l) => l.slice(0, 4)); // records 3..6, no checkpoint
  t.is(out.code, 1);
  t.regex(out.stdout, /not a checkpoint/);
  out = await tampered((l) => [...l.slice(0, 4), l[5]!]); // record 7 dropped, checkpoint kept
  t.is(out.code, 1);
  t.regex(out.stdout, /do not match the checkpoint/);
  // The archive links to the live trail: its lastHash is the next record's prev.
  t.is(checkpoint.lastHash, records[7]!.prev);
});
