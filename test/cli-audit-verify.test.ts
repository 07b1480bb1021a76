import test from 'ava';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditLog } from '../src/audit/audit-log.js';
import { runCliInProcess as cli } from './helpers/run-cli.js';

/** `unwrapd audit verify --file`: a missing log and a log without its head file are never "ok". */
// The CLI runs in-process (runCliInProcess); the executable in a process: cli-usage.test.ts.
let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uwd-audit-verify-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function logWith(name: string, n: number): Promise<string> {
  const path = join(dir, name);
  const log = await openAuditLog(path);
  for (let i = 0; i < n; i++) await log.append({ type: 'policy.created', tenant: 'demo', policyId: `p${i}` });
  await log.close();
  return path;
}

test('a log that does not exist is an error naming the path, not "ok: 0 records"', async (t) => {
  const missing = join(dir, 'missing.log');
  const r = await cli(['audit', 'verify', '--file', missing]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(
    r.stderr,
    `unwrapd: no audit log at ${missing}: give --file PATH, or --data-dir DIR of the daemon whose audit.log to check\n`,
  );
  const viaDataDir = await cli(['audit', 'verify', '--data-dir', join(dir, 'nowhere')]);
  t.is(viaDataDir.code, 1);
  t.regex(viaDataDir.stderr, /^unwrapd: no audit log at .*nowhere\/audit\.log: /);
});

test('a log without its head file says the head file is missing, not "appended by hand"', async (t) => {
  for (const n of [1, 3]) {
    const path = await logWith(`headless-${n}.log`, n);
    t.is((await cli(['audit', 'verify', '--file', path])).code, 0, 'intact with its head');
    await unlink(`${path}.head`);
    const r = await cli(['audit', 'verify', '--file', path]);
    t.is(r.code, 1);
    t.is(r.stdout.split('\n').length, 2, 'one line');
    t.regex(
      r.stdout,
      new RegExp(
        `^UNVERIFIED: the head file ${path}\\.head is missing: .*a cut at the end of the log cannot be detected \\(the ${n} records present chain correctly\\)`,
      ),
    );
    t.notRegex(r.stdout, /appended by hand/);
    const json = JSON.parse((await cli(['audit', 'verify', '--file', path, '--json'])).stdout) as Record<
      string,
      unknown
    >;
    t.like(json, { ok: false, records: n, unverified: true });
  }
});

test('a log without its head file whose chain is broken reports the break', async (t) => {
  const path = await logWith('headless-edited.log', 3);
  await unlink(`${path}.head`);
  const lines = (await readFile(path, 'utf8')).split('\n');
  lines[1] = lines[1]!.replace('"p1"', '"forged"');
  await writeFile(path, lines.join('\n'));
  const r = await cli(['audit', 'verify', '--file', path]);
  t.is(r.code, 1);
  t.regex(r.stdout, /^BROKEN: line 2: record hash does not match its content/);
});
