import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envelopeKind } from '../src/crypto/segmented-format.js';
import { runCliInProcess } from './helpers/run-cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const CLI = new URL('../bin/unwrapd.js', import.meta.url).pathname;

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});

// Files and small inputs: the CLI in-process (runCliInProcess). Through real pipes (a process's stdin and stdout):
// `node bin/unwrapd.js` in a process (cliPipe, the 2 MiB test).
const cliResult = (args: string[], input?: Buffer) => runCliInProcess([...args, '--address', d.daemon.address], input);

/** Runs the CLI in-process; resolves with stdout, rejects unless it exits 0. */
async function cli(...args: string[]): Promise<Buffer> {
  const r = await cliResult(args);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdoutBytes;
}

/** Runs the CLI in-process with `input` on stdin; resolves with stdout, rejects unless it exits 0. */
async function cliStdin(input: Buffer, ...args: string[]): Promise<Buffer> {
  const r = await cliResult(args, input);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdoutBytes;
}

/** Runs the CLI in a process with `input` on its stdin (a pipe); resolves with its stdout (a pipe). */
function cliPipe(input: Buffer, ...args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args, '--address', d.daemon.address], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`exit ${code}: ${err}`))));
    child.stdin.end(input);
  });
}

test.serial(
  'CLI: a file over 1 MiB is streamed into a segmented envelope, and decrypt detects it and streams it back',
  async (t) => {
    const plaintext = randomBytes(3 * 1024 * 1024 + 5);
    const input = join(d.dir, 'big.bin');
    const envelope = join(d.dir, 'big.uwe');
    const output = join(d.dir, 'big.out');
    await writeFile(input, plaintext);
    await cli(
      'encrypt',
      '--tenant',
      'demo',
      '--policy',
      'demo-mailbox',
      '--context',
      'site=hr',
      '--in',
      input,
      '--out',
      envelope,
    );
    const sealed = await readFile(envelope);
    t.is(envelopeKind(sealed), 'segmented');
    await cli('decrypt', '--tenant', 'demo', '--context', 'site=hr', '--in', envelope, '--out', output);
    t.true((await readFile(output)).equals(plaintext));
  },
);

test.serial('CLI: small inputs stay single blocks unless --stream; decrypt reads both kinds', async (t) => {
  const small = Buffer.from('a small mail item\n');
  const block = await cliStdin(small, 'encrypt', '--tenant', 'demo', '--policy', 'demo-mailbox');
  t.is(envelopeKind(block), 'block');
  const streamed = await cliStdin(small, 'encrypt', '--tenant', 'demo', '--policy', 'demo-mailbox', '--stream');
  t.is(envelopeKind(streamed), 'segmented');
  t.true((await cliStdin(block, 'decrypt', '--tenant', 'demo')).equals(small));
  t.true((await cliStdin(streamed, 'decrypt', '--tenant', 'demo')).equals(small));
});

test.serial('CLI: stdin to stdout streams both ways (2 MiB through pipes)', async (t) => {
  const plaintext = randomBytes(2 * 1024 * 1024);
  const envelope = await cliPipe(
    plaintext,
    'encrypt',
    '--tenant',
    'demo',
    '--policy',
    'demo-mailbox',
    '--context',
    'k=v',
  );
  t.is(envelopeKind(envelope), 'segmented');
  t.true((await cliPipe(envelope, 'decrypt', '--tenant', 'demo', '--context', 'k=v')).equals(plaintext));
});

test.serial(
  'CLI: a tampered segmented envelope fails with the one message and leaves no output file behind',
  async (t) => {
    const plaintext = randomBytes(1024 * 1024 + 100);
    const envelope = await cliStdin(plaintext, 'encrypt', '--tenant', 'demo', '--policy', 'demo-mailbox');
    const tampered = Buffer.from(envelope);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1; // the final segment's tag
    const input = join(d.dir, 'tampered.uwe');
    await writeFile(input, tampered);
    const before = await readdir(d.dir);
    const failed = await cliResult([
      'decrypt',
      '--tenant',
      'demo',
      '--in',
      input,
      '--out',
      join(d.dir, 'tampered.out'),
    ]);
    t.is(failed.code, 1);
    t.is(failed.stderr, 'unwrapd: INVALID_ARGUMENT (DECRYPTION_FAILED): decryption failed\n');
    t.deepEqual(await readdir(d.dir), before, 'neither the output nor its temporary file exists');
  },
);
