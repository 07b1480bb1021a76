import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runCliInProcess } from './helpers/run-cli.js';
import { startServe } from './helpers/serve-process.js';

/** Relative keystore paths are resolved once and printed, and the banner says how to reach this daemon. */
// The CLI runs in a process where the working directory matters (runCli with cwd), in-process elsewhere.
let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uwd-cli-paths-'));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = () => ({ PATH: process.env.PATH ?? '' });

test('keys create and keys list print the absolute keystore they use; a new keystore is pointed out', async (t) => {
  t.timeout(300_000);
  const elsewhere = join(dir, 'elsewhere');
  await mkdir(elsewhere);
  const created = await runCli(['keys', 'create', 'cust-a', '--data-dir', 'rel'], '', { cwd: elsewhere, env: env() });
  t.is(created.code, 0, created.stderr);
  const keystore = join(elsewhere, 'rel', 'keystore.json');
  t.is(created.stdout, `created local:cust-a/1 in ${keystore}\n`);
  t.regex(
    created.stderr,
    new RegExp(`^unwrapd: note: ${keystore} did not exist and is a new keystore; .*--data-dir DIR or --keystore FILE`),
  );

  const again = await runCli(['keys', 'create', 'cust-b', '--keystore', 'rel/keystore.json'], '', {
    cwd: elsewhere,
    env: env(),
  });
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, `created local:cust-b/1 in ${keystore}\n`);
  t.is(again.stderr, '', 'an existing keystore: no note');

  const listed = await runCliInProcess(['keys', 'list', '--data-dir', join(elsewhere, 'rel')], '', { env: env() });
  t.is(listed.code, 0, listed.stderr);
  t.is(listed.stderr, `keystore: ${keystore}\n`);
  t.regex(listed.stdout, /^KEY +STATE/);

  const none = await runCli(['keys', 'list'], '', { cwd: dir, env: env() });
  t.is(none.code, 0);
  t.regex(
    none.stdout,
    new RegExp(`^no keystore at ${join(dir, '.unwrapd', 'keystore.json')}: .*give --data-dir DIR or --keystore FILE`),
  );
});

test('the serve banner prints absolute paths and the exports for a CLI in another directory', async (t) => {
  t.timeout(300_000);
  // A data directory whose path a shell would split (a space) and whose quoting needs care (a quote).
  const sub = "data dir's";
  const serve = await startServe(
    t,
    (d) => ({ PATH: process.env.PATH ?? '', UNWRAPD_DATA_DIR: join(d, sub) }),
    /UNWRAPD_ADDRESS=.*\n/,
  );
  const out = serve.ready.input;
  const dataDir = join(serve.dir, sub);
  const sock = join(dataDir, 'unwrapd.sock');
  const admin = join(dataDir, 'admin.sock');
  t.true(out.includes(`local keystore: ${join(dataDir, 'keystore.json')} `), out);
  // The export line, pasted into a shell, sets each variable to the whole value.
  const exportLine = /^ {2}(export UNWRAPD_ADDRESS=.*)$/m.exec(out)?.[1];
  if (!exportLine) return t.fail(out);
  const pasted = execFileSync(
    'sh',
    ['-c', `${exportLine}\nprintf '%s\\n' "$UNWRAPD_ADDRESS" "$UNWRAPD_ADMIN_ADDRESS" "$UNWRAPD_DATA_DIR"`],
    { encoding: 'utf8', env: env() },
  );
  t.is(pasted, `unix://${sock}\nunix://${admin}\n${dataDir}\n`, exportLine);
  // The exported variables are enough, from any directory.
  const status = await runCli(['status', '--json'], '', {
    cwd: dir,
    env: {
      ...env(),
      UNWRAPD_ADDRESS: `unix://${sock}`,
      UNWRAPD_ADMIN_ADDRESS: `unix://${admin}`,
      UNWRAPD_DATA_DIR: dataDir,
    },
  });
  t.is(status.code, 0, status.stderr);
  const keys = await runCli(['keys', 'list', '--json'], '', {
    cwd: dir,
    env: { ...env(), UNWRAPD_DATA_DIR: dataDir },
  });
  t.true((JSON.parse(keys.stdout) as Array<{ name: string }>).some((k) => k.name === 'demo-customer-a'));
  t.is(await serve.terminate(), 0);
});
