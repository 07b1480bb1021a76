import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnvelope } from '../src/crypto/envelope-format.js';
import { envelopeKind, parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { demoEncryptArgs, runCliInProcess } from './helpers/run-cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// The CLI runs in-process (runCliInProcess); the executable in a process: cli-usage.test.ts, cli-stream.test.ts.

/** Runs the CLI against the test daemon (stdin empty). Never rejects: the exit code is the result. */
const cli = (...args: string[]) => runCliInProcess([...args, '--address', d.daemon.address]);

/** Runs the CLI without a daemon address (inspect and keys need none). */
const bare = (...args: string[]) => runCliInProcess(args);

let d: TestDaemon;
const inspect = (...args: string[]) => bare('inspect', ...args);

test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});

const MiB = 1024 * 1024;

for (const [label, size, segmented] of [
  ['below 1 MiB', 1000, false],
  ['above 1 MiB', MiB + 4321, true],
] as const) {
  test.serial(`--json with --out writes the file and describes it (${label}): encrypt, decrypt, inspect`, async (t) => {
    t.timeout(300_000);
    const plaintext = randomBytes(size);
    const input = join(d.dir, `in-${size}.bin`);
    const sealed = join(d.dir, `in-${size}.uwe`);
    const opened = join(d.dir, `in-${size}.out`);
    await writeFile(input, plaintext);

    const enc = await cli(...demoEncryptArgs(input, sealed), '--json');
    t.is(enc.code, 0, enc.stderr);
    const encJson = JSON.parse(enc.stdout) as Record<string, unknown>;
    const envelope = await readFile(sealed);
    t.is(envelopeKind(envelope), segmented ? 'segmented' : 'block');
    t.like(encJson, { segmented, out: sealed, plaintextBytes: size, envelopeBytes: envelope.length });
    t.false('envelope' in encJson, 'the JSON describes the file, never carries the envelope instead');
    t.is(typeof encJson.keyVersion, 'number');

    const dec = await cli('decrypt', '--tenant', 'demo', '--in', sealed, '--out', opened, '--json');
    t.is(dec.code, 0, dec.stderr);
    const decJson = JSON.parse(dec.stdout) as Record<string, unknown>;
    t.true((await readFile(opened)).equals(plaintext));
    t.like(decJson, { segmented, out: opened, plaintextBytes: size, policyId: 'demo-mailbox' });
    t.false('plaintext' in decJson);

    const info = await inspect('--in', sealed, '--json');
    t.is(info.code, 0, info.stderr);
    const header = JSON.parse(info.stdout) as Record<string, unknown>;
    t.like(header, {
      kind: segmented ? 'segmented' : 'single-block',
      tenant: 'demo',
      policyId: 'demo-mailbox',
      keyVersion: encJson.keyVersion,
      envelopeBytes: envelope.length,
      plaintextBytes: size,
    });
    if (segmented) {
      t.is(typeof header.segmentBytes, 'number');
      t.is(header.segments, Math.floor(size / (header.segmentBytes as number)) + 1);
      t.false(header.truncated as boolean);
    }
    // The header's key material never shows: the wrapped data key's bytes are not in the output, in any encoding.
    const human = await inspect('--in', sealed);
    t.regex(human.stdout, segmented ? /^segmented envelope/ : /^single-block envelope/);
    t.regex(human.stdout, /policy: +demo-mailbox/);
    const wrapped = segmented ? parseSegmentedHeader(envelope)!.wrappedKey : parseEnvelope(envelope).wrappedKey;
    for (const text of [human.stdout, info.stdout])
      for (const form of [wrapped.toString('hex'), wrapped.toString('base64'), wrapped.toString('base64url')])
        t.false(text.includes(form));
  });
}

test.serial('rewrap --json --out writes the file and describes it', async (t) => {
  t.timeout(300_000);
  const sealed = join(d.dir, 'rewrap.uwe');
  const out = join(d.dir, 'rewrap2.uwe');
  await writeFile(
    sealed,
    (await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') })).envelope,
  );
  const r = await cli('rewrap', '--tenant', 'demo', '--in', sealed, '--out', out, '--json');
  t.is(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as Record<string, unknown>;
  t.like(json, { out, envelopeBytes: (await stat(out)).size, policyId: 'demo-mailbox' });
  t.false('envelope' in json);
});

test.serial(
  'a non-envelope input is "not an unwrapd envelope" for inspect, decrypt and rewrap, at any size',
  async (t) => {
    t.timeout(300_000);
    const junk = join(d.dir, 'junk.bin');
    await writeFile(junk, Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(20 * MiB)]));
    for (const r of [
      await inspect('--in', junk),
      await cli('decrypt', '--tenant', 'demo', '--in', junk),
      await cli('rewrap', '--tenant', 'demo', '--in', junk),
    ]) {
      t.is(r.code, 1);
      t.is(r.stdout, '');
      t.is(r.stderr, 'unwrapd: not an unwrapd envelope: check the input file\n');
    }
  },
);

test.serial(
  'status --json counters are numbers; keys list is a table with a header; evict alone mentions --all',
  async (t) => {
    t.timeout(300_000);
    const s = JSON.parse((await cli('status', '--json')).stdout) as Record<string, unknown>;
    for (const k of [
      'cacheHits',
      'cacheMisses',
      'providerUnwraps',
      'availabilityKeyUses',
      'accessDenied',
      'auditRecords',
    ])
      t.is(typeof s[k], 'number', k);
    for (const f of s.feeds as Array<Record<string, unknown>>) t.is(typeof f.lastSequence, 'number');

    const keys = await bare('keys', 'list', '--keystore', join(d.dir, 'keystore.json'));
    t.is(keys.code, 0, keys.stderr);
    const [header, ...rows] = keys.stdout.trimEnd().split('\n');
    t.regex(header!, /^KEY +STATE +LATEST +VERSIONS +CREATED$/);
    t.true(rows.length >= 1);
    t.true(rows.every((r) => r.startsWith('local:')));
    t.false(keys.stdout.includes('{'));

    const e = await cli('evict');
    t.is(e.code, 2);
    t.regex(e.stderr, /evict needs --tenant T \[--policy P\], or --all/);
  },
);
