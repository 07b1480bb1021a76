import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer as collect } from 'node:stream/consumers';
import { envelopeKind, parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { cryptoRequestLimits } from '../src/server/request-limits.js';
import { runCliInProcess } from './helpers/run-cli.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * `unwrapd rewrap` of a segmented envelope sends its header alone: the daemon's block limit is lowered to
 * 64 KiB so an envelope of a few MiB is far above what one Rewrap request may carry. The envelope is sealed,
 * and what the CLI wrote is opened, through the daemon's streams from this process (the CLI's encrypt and
 * decrypt of segmented envelopes are cli-output.test.ts's): the CLI runs here are the rewraps, in-process
 * (runCliInProcess; binary stdin and stdout through real pipes: cli-stream.test.ts).
 */
let d: TestDaemon;
const cli = (args: string[], input?: Buffer) => runCliInProcess([...args, '--address', d.daemon.address], input);
const TARGET = 'archive-with-a-longer-policy-id'; // a longer id: the new header is longer than the old one
const plaintext = randomBytes(3 * 1024 * 1024 + 77);
let sealed: Buffer;
let sealedPath: string;

/** The content of segmented envelope `envelope`, opened by the daemon (DecryptStream). */
const opened = (envelope: Buffer) => collect(d.client.decryptStream({ tenant: 'demo' }, [envelope]));

test.before(async () => {
  d = await startTestDaemon({ maxBlockBytes: 64 * 1024 });
  await createPolicy(d.client, TARGET);
  sealedPath = join(d.dir, 'sealed.uwe');
  sealed = await collect(d.client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, [plaintext]));
  await writeFile(sealedPath, sealed);
});
test.after.always(async () => {
  await d?.stop();
});

/** The new envelope keeps the old one's segments byte for byte, under a header naming `policyId`. */
function assertMoved(t: import('ava').ExecutionContext, moved: Buffer, policyId: string) {
  const before = parseSegmentedHeader(sealed)!;
  const after = parseSegmentedHeader(moved)!;
  t.is(after.policyId, policyId);
  t.is(after.tenant, 'demo');
  t.true(moved.subarray(after.bytes.length).equals(sealed.subarray(before.bytes.length)), 'segments unchanged');
}

test.serial(
  'rewrap of a segmented envelope far above the unary limit sends the header alone (--in/--out)',
  async (t) => {
    t.timeout(600_000);
    t.true(sealed.length > 20 * cryptoRequestLimits(d.config).Rewrap!.bytes, 'the envelope exceeds one Rewrap request');
    const out = join(d.dir, 'moved.uwe');
    const r = await cli([
      'rewrap',
      '--tenant',
      'demo',
      '--target-policy',
      TARGET,
      '--in',
      sealedPath,
      '--out',
      out,
      '--json',
    ]);
    t.is(r.code, 0, r.stderr);
    const moved = await readFile(out);
    assertMoved(t, moved, TARGET);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    t.like(json, {
      segmented: true,
      out,
      envelopeBytes: moved.length,
      replacedHeaderBytes: parseSegmentedHeader(sealed)!.bytes.length,
      headerBytes: parseSegmentedHeader(moved)!.bytes.length,
      policyId: TARGET,
    });
    t.true((await opened(moved)).equals(plaintext));
  },
);

test.serial('rewrap of a segmented envelope from stdin to stdout, and in place (--out the same file)', async (t) => {
  t.timeout(600_000);
  const piped = await cli(['rewrap', '--tenant', 'demo', '--target-policy', TARGET], sealed);
  t.is(piped.code, 0, piped.stderr);
  assertMoved(t, piped.stdoutBytes, TARGET);

  const inPlace = join(d.dir, 'in-place.uwe');
  await writeFile(inPlace, sealed);
  const r = await cli(['rewrap', '--tenant', 'demo', '--target-policy', TARGET, '--in', inPlace, '--out', inPlace]);
  t.is(r.code, 0, r.stderr);
  const moved = await readFile(inPlace);
  assertMoved(t, moved, TARGET);
  t.true((await opened(moved)).equals(plaintext));
});

test.serial('rewrap of a segmented envelope: --json needs --out; a header cut short is not an envelope', async (t) => {
  t.timeout(300_000);
  const json = await cli(['rewrap', '--tenant', 'demo', '--json'], sealed);
  t.is(json.code, 2);
  t.regex(json.stderr, /^unwrapd: usage: --json with a segmented envelope needs --out FILE/);
  const cut = await cli(['rewrap', '--tenant', 'demo'], sealed.subarray(0, 40));
  t.is(cut.code, 1);
  t.is(cut.stdout, '');
  t.regex(cut.stderr, /^unwrapd: not an unwrapd envelope \(malformed or truncated segmented header\)/);
});

test.serial('rewrap of a single-block envelope in place (--out the same file)', async (t) => {
  const small = randomBytes(1000);
  const { envelope } = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: small });
  t.is(envelopeKind(envelope), 'block');
  const inPlace = join(d.dir, 'in-place-block.uwe');
  await writeFile(inPlace, envelope);
  const r = await cli(['rewrap', '--tenant', 'demo', '--target-policy', TARGET, '--in', inPlace, '--out', inPlace]);
  t.is(r.code, 0, r.stderr);
  const moved = await readFile(inPlace);
  t.false(moved.equals(envelope));
  const dec = await d.client.decrypt({ tenant: 'demo', envelope: moved });
  t.is(dec.policyId, TARGET);
  t.true(dec.plaintext.equals(small));
});
