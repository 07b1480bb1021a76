/**
 * DecryptStream and the authenticated stream header (docs/envelope-format.md §8): EncryptStream writes format
 * v2; a header whose segment size (or any other field) was edited is refused before any segment is read, and
 * one announcing more than streamMaxSegmentBytes is refused before the key is even looked up. After each
 * refusal the daemon holds nothing for the stream and keeps serving.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { buffer as collect } from 'node:stream/consumers';
import { parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon; // default cap: max(1 MiB, streamSegmentBytes)
let wide: TestDaemon; // cap at the format maximum (4 MiB)
test.before(async () => {
  [d, wide] = await Promise.all([
    startTestDaemon({ hedgeDelayMs: 60_000 }),
    startTestDaemon({ hedgeDelayMs: 60_000, streamMaxSegmentBytes: 4 * 1024 * 1024 }),
  ]);
  await Promise.all([createPolicy(d.client, 'files'), createPolicy(wide.client, 'files')]);
});
test.after.always(async () => {
  await Promise.all([d?.stop(), wide?.stop()]);
});

const ctx = { site: 'hr' };

async function sealed(daemon: TestDaemon, plaintext: Buffer): Promise<Buffer> {
  return collect(daemon.client.encryptStream({ tenant: 'demo', policyId: 'files', context: ctx }, [plaintext]));
}

/** The envelope with its header's segment size set to `size`. */
function withSegmentSize(envelope: Buffer, size: number): Buffer {
  const out = Buffer.from(envelope);
  out.writeUInt32BE(size, 6 + 'demo'.length); // v2: right after the tenant
  return out;
}

async function stillServes(t: import('ava').ExecutionContext, daemon: TestDaemon): Promise<void> {
  const s = daemon.daemon.streams.stats();
  t.is(s.open, 0, 'no stream left open');
  t.is(s.liveKeys, 0, 'no content key alive');
  t.is(s.leases, 0, 'no key lease held');
  const plaintext = randomBytes(100_000);
  const env = await sealed(daemon, plaintext);
  t.true(
    (await collect(daemon.client.decryptStream({ tenant: 'demo', context: ctx }, [env]))).equals(plaintext),
    'the daemon keeps serving streams',
  );
}

test.serial('EncryptStream writes format v2; it decrypts', async (t) => {
  const plaintext = randomBytes(3 * 65536 + 5);
  const env = await sealed(d, plaintext);
  const header = parseSegmentedHeader(env)!;
  t.is(header.version, 2);
  t.is(header.headerTag.length, 32);
  t.true((await collect(d.client.decryptStream({ tenant: 'demo', context: ctx }, [env]))).equals(plaintext));
});

test.serial(
  'a header whose segment size was edited 64 KiB -> 4 MiB is refused at unlock, before any segment (reader capped at 4 MiB)',
  async (t) => {
    const env = withSegmentSize(await sealed(wide, randomBytes(200_000)), 4 * 1024 * 1024);
    const released: Buffer[] = [];
    const err = await codeOf(
      (async () => {
        for await (const b of wide.client.decryptStream({ tenant: 'demo', context: ctx }, [env])) released.push(b);
      })(),
    );
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.is(err.details, 'decryption failed');
    t.is(released.length, 0, 'nothing released');
    await stillServes(t, wide);
  },
);

test.serial(
  'a header announcing more than streamMaxSegmentBytes is refused with INVALID_ARGUMENT naming the limit, before the key is looked up',
  async (t) => {
    const env = await sealed(d, randomBytes(10));
    d.daemon.cache.evictPolicy('demo', 'files'); // a key look-up would now have to unwrap at the provider
    d.provider.resetCounts();
    const err = await codeOf(
      collect(d.client.decryptStream({ tenant: 'demo', context: ctx }, [withSegmentSize(env, 4 * 1024 * 1024)])),
    );
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.regex(err.details, /segment size is larger than this reader's maximum of 1048576 bytes/);
    t.is(d.provider.counts.unwrap, 0, 'no root-key call: refused before the key was looked up');
    await stillServes(t, d);
  },
);

test.serial(
  'other header edits (nonce, commitment, key version, wrapped key, header tag, flags) are the generic failure',
  async (t) => {
    const env = await sealed(d, randomBytes(70_000));
    const header = parseSegmentedHeader(env)!;
    const H = header.bytes.length;
    for (const [what, at] of [
      ['nonce', 6 + 4 + 4],
      ['commitment', header.fixedHeader.length - 1],
      ['key version', header.fixedHeader.length + 1 + header.policyId.length + 3],
      ['wrapped key', H - 33],
      ['header tag', H - 1],
      ['flags', 4],
    ] as const) {
      const edited = Buffer.from(env);
      edited[at] = (edited[at] as number) ^ 0x01;
      const err = await codeOf(collect(d.client.decryptStream({ tenant: 'demo', context: ctx }, [edited])));
      t.is(err.code, grpc.status.INVALID_ARGUMENT, what);
      t.is(err.details, 'decryption failed', what);
    }
    await stillServes(t, d);
  },
);
