import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCliError } from '../src/cli/cli-error.js';
import { envelopeKind } from '../src/crypto/segmented-format.js';
import { runCli, runCliInProcess } from './helpers/run-cli.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/** The CLI's error messages say what happened and what to do, in one line. */
// The CLI runs in-process (runCliInProcess), but for `serve` and commands run as another user (runCli, a process);
// the executable's exit codes in a process: cli-usage.test.ts.
let d: TestDaemon;
let dir: string;
const cli = (args: string[], input?: Buffer) => runCliInProcess([...args, '--address', d.daemon.address], input);

test.before(async () => {
  d = await startTestDaemon({ maxBlockBytes: 64 * 1024 });
  dir = await mkdtemp(join(tmpdir(), 'uwd-cli-messages-'));
});
test.after.always(async () => {
  await d?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const oneLine = (t: import('ava').ExecutionContext, stderr: string) =>
  t.is(stderr.split('\n').length, 2, `one line: ${stderr}`);

test('a database outage behind the daemon is not "is the daemon running"; no daemon at the address is', async (t) => {
  const outage = Object.assign(new Error('x'), {
    code: grpc.status.UNAVAILABLE,
    details: 'postgres registry db: cannot connect (connect ECONNREFUSED 127.0.0.1:5432)',
    metadata: new grpc.Metadata(),
    reason: 'REGISTRY_UNAVAILABLE',
  });
  const { line } = describeCliError(outage, 'policy list');
  t.regex(line, /^UNAVAILABLE \(REGISTRY_UNAVAILABLE\): .*cannot connect .*: check its database, UNWRAPD_PG_URL/);
  t.notRegex(line, /daemon running|no daemon answers|npx unwrapd serve/);

  const r = await runCliInProcess(['status', '--admin-address', `unix://${join(dir, 'no-daemon.sock')}`]);
  t.is(r.code, 1);
  oneLine(t, r.stderr);
  t.regex(
    r.stderr,
    /^unwrapd: UNAVAILABLE: .*ENOENT.*\(no daemon answers at this address: start one with `npx unwrapd serve`/,
  );
  t.notRegex(r.stderr, /Resolution note/);
});

test('audit verify against an unreachable PostgreSQL says which database and what to check', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve)); // nothing listens there now
  const r = await runCliInProcess(['audit', 'verify', '--pg-url', `postgres://auditor:secret@127.0.0.1:${port}/trail`]);
  t.is(r.code, 1);
  oneLine(t, r.stderr);
  t.regex(
    r.stderr,
    new RegExp(
      `^unwrapd: cannot read the PostgreSQL audit trail at postgres://127\\.0\\.0\\.1:${port}/trail schema unwrapd \\(ECONNREFUSED: .*\\): check that the database is up`,
    ),
  );
  t.false(r.stderr.includes('secret'));
  t.notRegex(r.stderr, /daemon/);
});

test('an unwritable data directory is one line naming the directory and the fix (keys create, serve)', async (t) => {
  t.timeout(300_000);
  // root writes anywhere: then the commands run as nobody (65534), as an operator without the rights would.
  const asRoot = process.getuid?.() === 0;
  const parent = join(dir, 'perm');
  await mkdir(parent);
  await chmod(dir, 0o755);
  await chmod(parent, 0o755);
  const ro = join(parent, 'ro');
  await mkdir(ro);
  await chmod(ro, 0o555);
  const as = asRoot ? { uid: 65534, gid: 65534 } : {};
  const env = { PATH: process.env.PATH ?? '', HOME: ro };
  const fix =
    'make it writable \\(chown or chmod the directory\\), or choose another data directory with --data-dir DIR';
  const keys = await runCli(['keys', 'create', 'k1', '--data-dir', ro], '', { ...as, env });
  t.is(keys.code, 1);
  oneLine(t, keys.stderr);
  t.regex(
    keys.stderr,
    new RegExp(
      `^unwrapd: cannot write in ${ro}: it is not writable by this user \\(EACCES on keystore\\.json\\.lock\\): ${fix}`,
    ),
  );
  const serve = await runCli(['serve', '--data-dir', ro], '', { ...as, env });
  t.is(serve.code, 1);
  t.regex(
    serve.stderr,
    new RegExp(`(^|\n)unwrapd: cannot write in ${ro}: it is not writable by this user \\(EACCES on [a-z.]+\\): ${fix}`),
  );
  t.notRegex(serve.stderr, /EACCES: EACCES|\.new\b/);
  // A file it may not read is named itself (nothing to create in its directory).
  const secret = join(parent, 'secret.uwe');
  await writeFile(secret, 'x', { mode: 0o000 }); // unreadable for its owner too
  const read = await runCli(['inspect', '--in', secret], '', { ...as, env });
  t.is(read.code, 1);
  t.is(
    read.stderr,
    `unwrapd: cannot open ${secret}: permission denied (EACCES): fix its permissions (chown or chmod), or choose another path\n`,
  );
});

test('below 1 MiB but over the daemon\'s maxBlockBytes, encrypt streams instead of saying "use EncryptStream"', async (t) => {
  t.timeout(300_000);
  for (const size of [100 * 1024, 300 * 1024]) {
    // 100 KiB: over maxBlockBytes (64 KiB), refused by Encrypt; 300 KiB: over Encrypt's request limit as well.
    const plaintext = randomBytes(size);
    const input = join(dir, `block-${size}.bin`);
    const sealed = join(dir, `block-${size}.uwe`);
    await writeFile(input, plaintext);
    const enc = await cli(['encrypt', '--tenant', 'demo', '--policy', 'demo-mailbox', '--in', input, '--out', sealed]);
    t.is(enc.code, 0, enc.stderr);
    t.notRegex(enc.stderr, /EncryptStream/);
    t.is(envelopeKind(await readFile(sealed)), 'segmented');
    const dec = await cli(['decrypt', '--tenant', 'demo', '--in', sealed]);
    t.true(dec.stdoutBytes.equals(plaintext), dec.stderr);
    const json = await cli(['encrypt', '--tenant', 'demo', '--policy', 'demo-mailbox', '--in', input, '--json']);
    t.is(json.code, 2);
    t.regex(
      json.stderr,
      /--json with a streamed \(segmented\) envelope needs --out FILE \(it is over the daemon's max(Block|Request)Bytes of \d+ bytes, so it is streamed\)/,
    );
  }
});

test("creating a policy with a purged policy's id says it was purged and ids are never reused", async (t) => {
  t.timeout(300_000);
  await createPolicy(d.client, 'gone');
  await d.client.revoke({ tenant: 'demo', id: 'gone', reason: 'test' });
  await d.client.purge({ tenant: 'demo', id: 'gone', force: true, reason: 'test' });
  const r = await runCliInProcess([
    'policy',
    'create',
    '--tenant',
    'demo',
    '--id',
    'gone',
    '--key-a',
    'local:demo-customer-a',
    '--key-b',
    'local:demo-customer-b',
    '--admin-address',
    d.daemon.adminAddress,
  ]);
  t.is(r.code, 1);
  oneLine(t, r.stderr);
  t.regex(r.stderr, /policy demo\/gone was purged, and a purged policy's id is never reused .*: choose another id/);
});

test('keys check of a pkcs11: URI without a module says the provider is not configured and how to set it', async (t) => {
  const r = await runCliInProcess(['keys', 'check', 'pkcs11:token=hsm;object=k1'], '', {
    env: { PATH: process.env.PATH ?? '', UNWRAPD_DATA_DIR: dir },
  });
  t.is(r.code, 1);
  t.regex(
    r.stdout,
    /unwrapd cannot use this key: the PKCS#11 provider is not configured: set pkcs11Module \(--pkcs11-module PATH or UNWRAPD_PKCS11_MODULE/,
  );
  t.notRegex(r.stdout, /no such key/);
});

test('a port over 65535 is refused by config check and by serve before anything is created', async (t) => {
  t.timeout(300_000);
  const env = { PATH: process.env.PATH ?? '' };
  for (const flag of ['--listen', '--admin-listen', '--event-grid-listen']) {
    const r = await runCliInProcess(['config', 'check', flag, '127.0.0.1:99999'], '', { env });
    t.is(r.code, 2, flag);
    t.regex(r.stderr, /^unwrapd: config: \w+: port 99999 is out of range: a TCP port is 0 to 65535/);
  }
  const dataDir = join(dir, 'never-created');
  const serve = await runCli(['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:99999'], '', { env });
  t.is(serve.code, 2);
  oneLine(t, serve.stderr);
  t.regex(serve.stderr, /port 99999 is out of range/);
  t.false(existsSync(dataDir), 'no data directory, no keys generated');
  t.is(
    (await runCliInProcess(['config', 'check', '--listen', '127.0.0.1:0'], '', { env })).code,
    0,
    'port 0 picks one',
  );
});
