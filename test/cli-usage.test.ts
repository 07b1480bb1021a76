import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, runCliInProcess } from './helpers/run-cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const PACKAGE_VERSION = (
  JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

// The CLI runs in-process here (runCliInProcess), but for the last test: the `unwrapd` executable itself, in a
// process. Binary stdin and stdout through real pipes: cli-stream.test.ts; SIGINT/SIGTERM ending events and
// audit follow: cli-io.test.ts; cwd and uid: cli-paths, cli-messages.
const cli = runCliInProcess;

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});
const addr = () => ['--address', d.daemon.address];

const HELP_COMMANDS: Array<[string[], RegExp]> = [
  [['encrypt'], /usage: unwrapd encrypt --tenant T --policy P/],
  [['decrypt'], /usage: unwrapd decrypt --tenant T/],
  [['rewrap'], /usage: unwrapd rewrap --tenant T/],
  [['inspect'], /usage: unwrapd inspect/],
  [['status'], /usage: unwrapd status/],
  [['evict'], /usage: unwrapd evict .*--all/],
  [['events'], /usage: unwrapd events/],
  [['health'], /usage: unwrapd health/],
  [['config', 'check'], /usage: unwrapd config check/],
  [['keys', 'check'], /usage: unwrapd keys check URI/],
  [['keys', 'list'], /usage: unwrapd keys list/],
  [['keys', 'create'], /usage: unwrapd keys create NAME/],
  [['keys', 'delete'], /usage: unwrapd keys delete NAME --yes/],
  [['policy', 'create'], /usage: unwrapd policy create --tenant T --id P --key-a URI/],
  [['policy', 'list'], /usage: unwrapd policy list/],
  [['policy', 'rotate'], /usage: unwrapd policy rotate .*--min-decrypt-version N --yes/],
  [['policy', 'purge'], /usage: unwrapd policy purge .*--yes/],
  [['policy'], /usage: unwrapd policy revoke[\s\S]*usage: unwrapd policy purge/],
  [['audit', 'verify'], /usage: unwrapd audit verify/],
  [['serve'], /usage: unwrapd serve/],
];

test('--help and -h print each command usage on stdout and exit 0, whatever else is on the line', async (t) => {
  t.timeout(300_000);
  const pending = HELP_COMMANDS.map((entry, i) => ({ entry, flag: i % 2 === 0 ? '--help' : '-h' }));
  const worker = async () => {
    for (let next = pending.shift(); next; next = pending.shift()) {
      const [argv, usage] = next.entry;
      // Required options missing and a typo beside it: help still wins, and nothing is sent anywhere.
      const r = await cli([...argv, '--tenat', 'x', next.flag]);
      t.is(r.code, 0, `${argv.join(' ')} ${next.flag}: ${r.stderr}`);
      t.regex(r.stdout, usage, argv.join(' '));
      t.is(r.stderr, '', argv.join(' '));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
});

test('--version and version print the package version', async (t) => {
  t.timeout(300_000);
  for (const argv of [['--version'], ['version']]) {
    const r = await cli(argv);
    t.is(r.code, 0);
    t.is(r.stdout, `unwrapd ${PACKAGE_VERSION}\n`);
  }
});

test('an unknown flag is one line with the closest flag and a pointer to the command help, exit 2', async (t) => {
  t.timeout(300_000);
  const r = await cli(['encrypt', '--tenat', 'demo', '--policy', 'demo-mailbox', ...addr()], 'hello');
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.is(r.stderr, 'unwrapd: usage: unknown option --tenat: did you mean --tenant? (see unwrapd encrypt --help)\n');
  const far = await cli(['policy', 'rotate', '--zzzzzz', ...addr()]);
  t.is(far.code, 2);
  t.is(far.stderr, 'unwrapd: usage: unknown option --zzzzzz (see unwrapd policy rotate --help)\n');
  const cmd = await cli(['encrpyt']);
  t.is(cmd.code, 2);
  t.regex(cmd.stderr, /unknown command "encrpyt": did you mean "encrypt"\?/);
  const missing = await cli(['decrypt', '--tenant']);
  t.is(missing.stderr, 'unwrapd: usage: --tenant needs a value (see unwrapd decrypt --help)\n');
});

test('a file name without --in is refused, never ignored (nothing is encrypted)', async (t) => {
  t.timeout(300_000);
  const r = await cli(['encrypt', 'notes.txt', '--tenant', 'demo', '--policy', 'demo-mailbox', ...addr()], 'stdin');
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.is(
    r.stderr,
    'unwrapd: usage: unexpected argument "notes.txt" (to read a file, give --in notes.txt) (see unwrapd encrypt --help)\n',
  );
  for (const argv of [
    ['decrypt', 'x.uwe', '--tenant', 'demo'],
    ['status', 'now'],
    ['policy', 'list', 'demo'],
  ]) {
    const s = await cli([...argv, ...addr()]);
    t.is(s.code, 2, argv.join(' '));
    t.regex(s.stderr, /unexpected argument/);
  }
  // Commands that take one positional still take exactly one.
  const two = await cli(['keys', 'create', 'a', 'b', '--data-dir', d.dir]);
  t.is(two.code, 2);
  t.regex(two.stderr, /unexpected argument "b"/);
});

test('policy rotate --min-decrypt-version needs --yes; without it nothing changes', async (t) => {
  t.timeout(300_000);
  const before = await d.client.getPolicy('demo', 'demo-mailbox');
  const refused = await cli([
    'policy',
    'rotate',
    '--tenant',
    'demo',
    '--id',
    'demo-mailbox',
    '--min-decrypt-version',
    '2',
    ...addr(),
  ]);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /irreversible: content under key versions below 2 can never be decrypted again\. Add --yes/);
  const unchanged = await d.client.getPolicy('demo', 'demo-mailbox');
  t.is(unchanged.revision, before.revision);
  t.is(unchanged.minDecryptVersion, before.minDecryptVersion);
  // A plain rotation takes nothing away and needs no confirmation.
  const plain = await cli(['policy', 'rotate', '--tenant', 'demo', '--id', 'demo-mailbox', '--json', ...addr()]);
  t.is(plain.code, 0, plain.stderr);
  const rotated = (JSON.parse(plain.stdout) as { activeVersion: number }).activeVersion;
  const confirmed = await cli([
    'policy',
    'rotate',
    '--tenant',
    'demo',
    '--id',
    'demo-mailbox',
    '--min-decrypt-version',
    String(rotated),
    '--yes',
    '--json',
    ...addr(),
  ]);
  t.is(confirmed.code, 0, confirmed.stderr);
  t.is((await d.client.getPolicy('demo', 'demo-mailbox')).minDecryptVersion, rotated);
});

test('keys delete needs --yes; without it the key stays', async (t) => {
  t.timeout(300_000);
  const keys = ['--keystore', join(d.dir, 'keystore.json')];
  t.is((await cli(['keys', 'create', 'doomed', ...keys])).code, 0);
  const refused = await cli(['keys', 'delete', 'doomed', ...keys]);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /keys delete is irreversible: .*local:doomed.*Add --yes to confirm/);
  const listed = await cli(['keys', 'list', '--json', ...keys]);
  const doomed = (JSON.parse(listed.stdout) as Array<{ name: string; deleted?: boolean }>).find(
    (k) => k.name === 'doomed',
  );
  t.truthy(doomed);
  t.falsy(doomed?.deleted);
  const done = await cli(['keys', 'delete', 'doomed', '--yes', ...keys]);
  t.is(done.code, 0, done.stderr);
  t.regex(done.stdout, /deleted local:doomed/);
});

test('the unwrapd executable: the exit code of a success (0), a usage error (2) and a failure (1), in a process', async (t) => {
  t.timeout(300_000);
  const [ok, usage, failed] = await Promise.all([
    runCli(['--version']),
    runCli(['encrpyt']),
    runCli(['status', '--admin-address', `unix://${join(d.dir, 'no-daemon.sock')}`]),
  ]);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, `unwrapd ${PACKAGE_VERSION}\n`);
  t.is(ok.stderr, '');
  t.is(usage.code, 2);
  t.is(usage.stdout, '');
  t.is(usage.stderr, 'unwrapd: usage: unknown command "encrpyt": did you mean "encrypt"? (see unwrapd --help)\n');
  t.is(failed.code, 1);
  t.is(failed.stdout, '');
  t.regex(
    failed.stderr,
    /^unwrapd: UNAVAILABLE: .*\(no daemon answers at this address: start one with `npx unwrapd serve`[^\n]*\n$/,
  );
});
