import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withKeyPool } from './helpers/child-key-pool.js';

/**
 * README.md's five-minute tour (the block between `<!-- tour:start -->` and `<!-- tour:end -->`), each line run
 * as written by `sh` in a fresh directory that stands for the clone: `npx unwrapd` finds this repository's
 * bin/unwrapd.js there (node_modules/.bin), and the daemon is `unwrapd serve` started in that directory with no
 * UNWRAPD_* setting (only the test key pool's variables, helpers/child-key-pool.ts), so both use its default
 * data directory `./.unwrapd`, as after `npm start`.
 *
 * npm's own start is about 0.9 s of CPU per `npx`, more than the command it runs. So the first `npx unwrapd` line
 * and the last one (a failure: npx passes on exit code 1 and stderr) run through npx as written; the lines
 * between run `node_modules/.bin/unwrapd`, which is what npx runs there, in place of `npx unwrapd`.
 */
const ROOT = new URL('..', import.meta.url).pathname;

async function tourCommands(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- tour:start -->\s*```sh\n([\s\S]*?)```\s*<!-- tour:end -->/.exec(readme);
  if (!block) throw new Error('README.md has no tour block');
  return block[1]!.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/** What each line of the tour must do, in order: exit code, and what stdout or stderr must show. */
const EXPECTED: Array<{ starts: string; code: number; stdout?: RegExp; stderr?: RegExp }> = [
  { starts: 'echo ', code: 0 },
  { starts: 'npx unwrapd encrypt', code: 0 },
  { starts: 'npx unwrapd decrypt', code: 0, stdout: /^quarterly numbers\n$/ },
  { starts: 'npx unwrapd keys rotate', code: 0, stdout: /new version of local:demo-customer-a/ },
  { starts: 'npx unwrapd policy roll', code: 0, stdout: /customer-a:\s+local:demo-customer-a\/2/ },
  { starts: 'npx unwrapd decrypt', code: 0, stdout: /^quarterly numbers\n$/ },
  { starts: 'npx unwrapd policy revoke', code: 0, stdout: /state:\s+revoked/ },
  { starts: 'npx unwrapd decrypt', code: 1, stdout: /^$/, stderr: /POLICY_REVOKED/ },
  { starts: 'npx unwrapd keys disable', code: 0 },
  { starts: 'npx unwrapd keys disable', code: 0 },
  { starts: 'npx unwrapd policy purge', code: 0, stdout: /purged demo\/demo-mailbox/ },
  { starts: 'npx unwrapd decrypt', code: 1, stdout: /^$/, stderr: /POLICY_PURGED/ },
];

test('the README tour runs as written: encrypt, decrypt, roll, revoke (decrypt fails), purge', async (t) => {
  // Eleven CLI commands, two of them through npx: more than ava's default allowance on a busy machine.
  t.timeout(600_000);
  const commands = await tourCommands();
  t.deepEqual(
    commands.map((c, i) => c.startsWith(EXPECTED[i]?.starts ?? '\0')),
    commands.map(() => true),
    'the tour and this test list the same steps',
  );
  t.is(commands.length, EXPECTED.length);

  const dir = await mkdtemp(join(tmpdir(), 'uwd-tour-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'package.json'), '{ "private": true }\n');
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
  await symlink(join(ROOT, 'bin', 'unwrapd.js'), join(dir, 'node_modules', '.bin', 'unwrapd'));
  // No UNWRAPD_* setting; the test key pool for the daemon and the commands (helpers/child-key-pool.ts).
  const env = await withKeyPool(
    Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNWRAPD_'))),
  );

  const daemon = spawn(process.execPath, [join(ROOT, 'bin', 'unwrapd.js'), 'serve'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGTERM');
    await exited;
  });
  let banner = '';
  let errors = '';
  daemon.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  await new Promise<void>((resolve, reject) => {
    daemon.stdout.on('data', (c: Buffer) => {
      banner += c.toString();
      if (banner.includes('grpcurl')) resolve();
    });
    void exited.then((code) => reject(new Error(`the daemon exited with ${code}: ${errors}`)));
  });
  t.regex(banner, new RegExp(`unix://${dir}/\\.unwrapd/unwrapd\\.sock`));

  const npxLines = commands.flatMap((c, i) => (c.startsWith('npx unwrapd ') ? [i] : []));
  const throughNpx = new Set([npxLines[0], npxLines.at(-1)]);
  t.is(EXPECTED[npxLines.at(-1)!]?.code, 1, 'the last npx line is the failure whose exit code npx passes on');
  for (const [i, line] of commands.entries()) {
    const expected = EXPECTED[i]!;
    const command = throughNpx.has(i) ? line : line.replace(/^npx unwrapd /, 'node_modules/.bin/unwrapd ');
    const r = spawnSync('sh', ['-c', command], { cwd: dir, env, encoding: 'utf8', timeout: 90_000 });
    const what = `step ${i + 1}: ${command}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    t.is(r.status, expected.code, what);
    if (expected.stdout) t.regex(r.stdout, expected.stdout, what);
    if (expected.stderr) t.regex(r.stderr, expected.stderr, what);
  }

  daemon.kill('SIGTERM');
  t.is(await exited, 0, errors);
});
