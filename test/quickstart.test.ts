import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { withKeyPool } from './helpers/child-key-pool.js';
import { CLI, startServe } from './helpers/serve-process.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

/** Starts `npm start` the way README.md says, in its own process group, and waits for its banner. */
async function startLikeReadme(dataDir: string) {
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: await withKeyPool({ ...process.env, UNWRAPD_DATA_DIR: dataDir, UNWRAPD_LOG_LEVEL: 'warn' }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${err}`)), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('grpcurl')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`daemon exited with ${code}: ${err}`)));
  });
  return { child, banner: () => out, stderr: () => err };
}

test('the quick start: npm start serves the demo policy, the CLI encrypts and decrypts, SIGTERM stops it cleanly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-qs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true })); // it holds the demo's keystore: removed whatever the outcome
  const { child, banner, stderr } = await startLikeReadme(dir);
  try {
    t.regex(banner(), /unwrapd is listening on unix:\/\/.*unwrapd\.sock/);
    t.regex(banner(), /grpcurl -plaintext -unix/);
    const socket = join(dir, 'unwrapd.sock');
    t.is((await stat(socket)).mode & 0o777, 0o660);
    // The operator's socket: Admin only, owner only, in the data directory; the banner names it.
    t.regex(banner(), /admin socket: unix:\/\/.*admin\.sock/);
    t.is((await stat(join(dir, 'admin.sock'))).mode & 0o777, 0o600);
    t.is((await stat(join(dir, 'keystore.json'))).mode & 0o777, 0o600);

    const input = join(dir, 'hello.txt');
    await writeFile(input, 'hello from the quick start\n');
    const envelope = join(dir, 'hello.uwe');
    await run('node', [
      CLI,
      'encrypt',
      '--data-dir',
      dir,
      '--tenant',
      'demo',
      '--policy',
      'demo-mailbox',
      '--context',
      'mailbox=alice',
      '--in',
      input,
      '--out',
      envelope,
    ]);
    const { stdout } = await run('node', [
      CLI,
      'decrypt',
      '--data-dir',
      dir,
      '--tenant',
      'demo',
      '--context',
      'mailbox=alice',
      '--in',
      envelope,
    ]);
    t.is(stdout, 'hello from the quick start\n');

    const listed = JSON.parse(
      (await run('node', [CLI, 'policy', 'list', '--data-dir', dir, '--json'])).stdout,
    ) as Array<{ id: string; state: string }>;
    t.deepEqual(
      listed.map((p) => [p.id, p.state]),
      [['demo-mailbox', 'POLICY_STATE_ACTIVE']],
    );

    // A failed decryption: one clear line on stderr and a non-zero exit code.
    const failed = await run('node', [
      CLI,
      'decrypt',
      '--data-dir',
      dir,
      '--tenant',
      'demo',
      '--context',
      'mailbox=bob',
      '--in',
      envelope,
    ]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    t.truthy(failed);
    t.is(failed!.code, 1);
    t.is(failed!.stderr, 'unwrapd: INVALID_ARGUMENT (DECRYPTION_FAILED): decryption failed\n');
  } finally {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(-child.pid!, 'SIGTERM'); // the whole group, as a container runtime would
    await exited;
    // npm may exit before the daemon it started has finished its graceful shutdown: wait for the daemon to
    // remove its sockets (bounded), then check.
    await socketsGone([join(dir, 'unwrapd.sock'), join(dir, 'admin.sock')], 30_000);
    // The daemon shut down gracefully: it removed its socket and logged no error.
    await t.throwsAsync(stat(join(dir, 'unwrapd.sock')), { code: 'ENOENT' });
    await t.throwsAsync(stat(join(dir, 'admin.sock')), { code: 'ENOENT' });
    t.notRegex(stderr(), /"level":"error"/);
  }
});

test('the CLI gives a one-line usage error and exit code 2', async (t) => {
  const e = await run('node', [CLI, 'encrypt', '--bogus']).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.is(e?.code, 2);
  t.regex(e!.stderr, /^unwrapd: usage: .*\n$/);
});

test('the CLI says when no daemon is running', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-none-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const e = await run('node', [CLI, 'status', '--data-dir', dir, '--deadline-ms', '2000']).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.is(e?.code, 1);
  t.regex(e!.stderr, /^unwrapd: (UNAVAILABLE|DEADLINE_EXCEEDED): .*\n$/);
});

test('unwrapd serve exits 0 on SIGTERM and honours UNWRAPD_LISTEN for TCP', async (t) => {
  const serve = await startServe(
    t,
    (dir) => ({ ...process.env, UNWRAPD_DATA_DIR: dir, UNWRAPD_LISTEN: '127.0.0.1:0', UNWRAPD_LOG_LEVEL: 'warn' }),
    /listening on (127\.0\.0\.1:\d+)/,
  );
  const address = serve.ready[1]!;
  const dir = serve.dir;
  // status is an operator command: it finds the admin socket in the data dir.
  const { stdout } = await run('node', [CLI, 'status', '--address', address, '--data-dir', dir]);
  t.regex(stdout, /serving/);
  t.is((await run('node', [CLI, 'health', '--address', address])).stdout, 'SERVING\n');
  t.is(await serve.terminate(), 0);
});

/** Resolves once none of `paths` exists, or after `timeoutMs` (the assertions that follow then fail). */
async function socketsGone(paths: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exists = async (p: string) =>
    stat(p).then(
      () => true,
      () => false,
    );
  while (Date.now() < deadline) {
    if (!(await Promise.all(paths.map(exists))).some(Boolean)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
