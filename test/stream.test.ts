import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  DEFAULT_SEGMENT_BYTES,
  parseSegmentedHeader,
  segmentedEnvelopeLength,
} from '../src/crypto/segmented-format.js';
import type { ContentStream } from '../src/client/client.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { waitFor } from './helpers/wait-for.js';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ hedgeDelayMs: 60_000, callerRoles: 'user' });
  await createPolicy(d.client, 'files');
});
test.after.always(async () => {
  await d?.stop();
});

const SEG = DEFAULT_SEGMENT_BYTES;
const ctx = { site: 'hr', object: 'report.pdf' };
const encHeader = (policyId = 'files') => ({ tenant: 'demo', policyId, context: ctx });
const decHeader = { tenant: 'demo', context: ctx };

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b);
  return Buffer.concat(parts);
}

/** The gRPC status of a stream that must fail (fails the test if it completes). */
async function streamCode(stream: AsyncIterable<Buffer>): Promise<{ code: number; details: string }> {
  return codeOf(collect(stream));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The deterministic pseudo-random content `generated` yields (an AES-CTR keystream): its next `length` bytes. */
function keystream(): (length: number) => Buffer {
  const ctr = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16));
  return (length) => ctr.update(Buffer.alloc(length));
}

/** `total` bytes of deterministic pseudo-random content (keystream()) in 64 KiB chunks, never held at once. */
async function* generated(total: number): AsyncGenerator<Buffer> {
  const next = keystream();
  for (let off = 0; off < total; off += SEG) yield next(Math.min(SEG, total - off));
}

/** Whether the server holds nothing for any stream (what expectClean asserts). */
function isClean(): boolean {
  const s = d.daemon.streams.stats();
  return (
    s.open === 0 &&
    s.liveKeys === 0 &&
    s.leases === 0 &&
    s.inFlightBytes === 0 &&
    d.daemon.crypto.leases.openHolders === 0
  );
}

/** The server releases a cancelled or failed stream asynchronously: wait until it has (bounded). */
const released = () => waitFor(isClean, 'the server to release every stream').catch(() => undefined); // expectClean then says what is left

function expectClean(t: import('ava').ExecutionContext, what: string): void {
  const s = d.daemon.streams.stats();
  t.is(s.open, 0, `${what}: no open streams`);
  t.is(s.liveKeys, 0, `${what}: no live stream keys`);
  t.is(s.leases, 0, `${what}: no key leases held`);
  t.is(s.inFlightBytes, 0, `${what}: no bytes in flight`);
  t.is(d.daemon.crypto.leases.openHolders, 0, `${what}: nothing held open in the key leases`);
}

// ---- round trips -------------------------------------------------------------------------------------------

for (const [label, size, segments] of [
  ['0 B', 0, 1],
  ['one segment exactly (64 KiB)', SEG, 2],
  ['one byte over a segment', SEG + 1, 2],
] as const) {
  test.serial(`stream round trip: ${label}`, async (t) => {
    const plaintext = randomBytes(size);
    const enc = d.client.encryptStream(encHeader(), [plaintext]);
    const envelope = await collect(enc);
    t.is(enc.keyVersion, 1);
    const header = parseSegmentedHeader(envelope)!;
    t.is(header.segmentSize, SEG);
    t.is(header.policyId, 'files');
    t.is(envelope.length, segmentedEnvelopeLength(header, SEG, size));
    t.is(envelope.length - header.bytes.length - size, segments * 16, `${segments} segment(s)`);
    // Envelope bytes in an awkward split (7-byte pieces for the header, then odd sizes).
    const pieces = [
      envelope.subarray(0, 7),
      envelope.subarray(7, 200),
      envelope.subarray(200, 70_001),
      envelope.subarray(70_001),
    ];
    const dec = d.client.decryptStream(decHeader, pieces);
    t.true((await collect(dec)).equals(plaintext));
    t.is(dec.policyId, 'files');
    t.is(dec.keyVersion, 1);
    expectClean(t, label);
  });
}

test.serial(
  'stream round trip: 100 MiB generated on the fly, encrypted into decrypt, checked byte for byte as it arrives',
  async (t) => {
    const total = 100 * 1024 * 1024;
    const started = performance.now();
    // Encrypt's output feeds Decrypt's input directly: the 100 MiB (and its envelope) is never held.
    const enc = d.client.encryptStream(encHeader(), generated(total));
    const dec = d.client.decryptStream(decHeader, enc);
    // What comes out is compared with the generated content, regenerated alongside (cheaper than hashing both).
    const expected = keystream();
    let firstMismatch: number | undefined;
    let bytes = 0;
    let maxChunk = 0;
    for await (const b of dec) {
      if (firstMismatch === undefined && !b.equals(expected(b.length))) firstMismatch = bytes;
      bytes += b.length;
      maxChunk = Math.max(maxChunk, b.length);
    }
    t.is(bytes, total);
    t.is(firstMismatch, undefined, 'the plaintext out is the plaintext in');
    t.true(maxChunk <= SEG, 'plaintext arrives segment by segment');
    t.is(enc.bytesSent, total);
    t.is(enc.bytesReceived, segmentedEnvelopeLength({ tenant: 'demo', policyId: 'files', keyVersion: 1 }, SEG, total));
    t.log(`100 MiB encrypt + decrypt round trip: ${(performance.now() - started).toFixed(0)} ms`);
    expectClean(t, '100 MiB');
  },
);

test.serial('stream: plaintext source chunks of any size are re-segmented (1 B, 100 KiB, 3 MiB chunks)', async (t) => {
  const a = Buffer.from([1]);
  const b = randomBytes(100 * 1024);
  const c = randomBytes(3 * 1024 * 1024);
  const envelope = await collect(d.client.encryptStream(encHeader(), [a, b, c], { chunkBytes: 256 * 1024 })); // the largest chunk a stream message may carry
  const out = await collect(d.client.decryptStream(decHeader, [envelope], { chunkBytes: 4096 }));
  t.true(out.equals(Buffer.concat([a, b, c])));
});

// ---- tampering over the API -----------------------------------------------------------------------------------

const PT = randomBytes(3 * SEG + 1000); // segments: full, full, full, final (1000 B)
let parts: { header: Buffer; segments: Buffer[] } | undefined;
async function sealedParts() {
  if (parts) return parts;
  const envelope = await collect(d.client.encryptStream(encHeader(), [PT]));
  const header = parseSegmentedHeader(envelope)!;
  const segments: Buffer[] = [];
  let off = header.bytes.length;
  for (let i = 0; i < 4; i++) {
    const len = (i < 3 ? SEG : 1000) + 16;
    segments.push(envelope.subarray(off, off + len));
    off += len;
  }
  t_assert(off === envelope.length);
  parts = { header: Buffer.from(header.bytes), segments };
  return parts;
}
function t_assert(cond: boolean): void {
  if (!cond) throw new Error('layout');
}

for (const [rule, build] of [
  ['reordered segments are rejected', (h: Buffer, s: Buffer[]) => [h, s[0]!, s[2]!, s[1]!, s[3]!]],
  ['a duplicated segment is rejected', (h: Buffer, s: Buffer[]) => [h, s[0]!, s[1]!, s[1]!, s[2]!, s[3]!]],
  ['a dropped segment is rejected', (h: Buffer, s: Buffer[]) => [h, s[0]!, s[2]!, s[3]!]],
  ['a truncated stream is rejected (final segment dropped)', (h: Buffer, s: Buffer[]) => [h, s[0]!, s[1]!, s[2]!]],
  [
    'a truncated stream is rejected (cut inside the final segment)',
    (h: Buffer, s: Buffer[]) => [h, s[0]!, s[1]!, s[2]!, s[3]!.subarray(0, 500)],
  ],
  ['a truncated stream is rejected (header only)', (h: Buffer) => [h]],
  ['a truncated stream is rejected (cut inside the header)', (h: Buffer) => [h.subarray(0, 40)]],
  ['bytes after the final segment are rejected', (h: Buffer, s: Buffer[]) => [h, ...s, Buffer.from([0])]],
] as const) {
  test.serial(`stream: ${rule}`, async (t) => {
    const { header, segments } = await sealedParts();
    const err = await streamCode(d.client.decryptStream(decHeader, build(header, segments)));
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.is(err.details, 'decryption failed');
    expectClean(t, rule);
  });
}

test.serial(
  'stream: the wrong context, the wrong tenant or a single-block envelope fail with the generic error',
  async (t) => {
    const { header, segments } = await sealedParts();
    const all = [header, ...segments];
    for (const [what, h] of [
      ['wrong context', { tenant: 'demo', context: { ...ctx, object: 'other.pdf' } }],
      ['no context', { tenant: 'demo' }],
      ['other tenant', { tenant: 'other', context: ctx }],
    ] as const) {
      const err = await streamCode(d.client.decryptStream(h, all));
      t.deepEqual(err, { code: grpc.status.INVALID_ARGUMENT, details: 'decryption failed' }, what);
    }
    const block = (await d.client.encrypt({ tenant: 'demo', policyId: 'files', plaintext: Buffer.from('x') })).envelope;
    t.deepEqual(await streamCode(d.client.decryptStream(decHeader, [block])), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'decryption failed',
    });
    // And the other way: a segmented envelope is not a block.
    const seg = Buffer.concat(all);
    t.deepEqual(await codeOf(d.client.decrypt({ tenant: 'demo', envelope: seg.subarray(0, 4096), context: ctx })), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'decryption failed',
    });
    expectClean(t, 'mismatches');
  },
);

// ---- the protocol ---------------------------------------------------------------------------------------------

test.serial(
  'stream: a missing or repeated header, a policy_id on DecryptStream and an unknown policy are refused clearly',
  async (t) => {
    const raw = async (messages: object[], method: 'EncryptStream' | 'DecryptStream' = 'EncryptStream') => {
      const call = d.client.crypto[method]();
      for (const m of messages) call.write(m);
      call.end();
      return new Promise<{ code: number; details: string }>((resolve) => {
        call.on('data', () => {});
        call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
        call.on('end', () => resolve({ code: 0, details: 'ok' }));
      });
    };
    t.deepEqual(await raw([]), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'EncryptStream needs a header message first; the stream was empty',
    });
    t.deepEqual(await raw([{ chunk: Buffer.from('x') }]), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'the first message of EncryptStream must be a header',
    });
    t.deepEqual(await raw([{ header: encHeader() }, { chunk: Buffer.from('x') }, { header: encHeader() }]), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'a stream has exactly one header, in its first message',
    });
    t.deepEqual(await raw([{ header: { tenant: 'demo' } }]), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'policy_id is required',
    });
    t.deepEqual(await raw([{ header: { tenant: 'demo', policyId: 'nope' } }]), {
      code: grpc.status.NOT_FOUND,
      details: 'no policy demo/nope',
    });
    t.deepEqual(await raw([{ header: { tenant: 'demo', policyId: 'files' } }], 'DecryptStream'), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'DecryptStream takes no policy_id: the envelope names its policy',
    });
    t.deepEqual(
      await raw([{ header: { tenant: 'demo' } }], 'DecryptStream'),
      { code: grpc.status.INVALID_ARGUMENT, details: 'decryption failed' },
      'empty input',
    );
    const sys = await raw([{ header: { ...encHeader(), purpose: 'PURPOSE_SYSTEM' } }]);
    t.is(sys.code, grpc.status.PERMISSION_DENIED);
    expectClean(t, 'protocol errors');
  },
);

// ---- cancellation, deadlines, revocation ------------------------------------------------------------------------

test.serial(
  'stream: a client that cancels mid-stream leaves nothing behind, and the server keeps serving',
  async (t) => {
    const before = (await d.client.getStatus()).cacheEntries;
    const { header, segments } = await sealedParts();
    for (const which of ['encrypt', 'decrypt'] as const) {
      const controller = new AbortController();
      // Sources that never end by themselves: only the cancel ends these streams.
      const stream: ContentStream =
        which === 'encrypt'
          ? d.client.encryptStream(
              encHeader(),
              (async function* () {
                for (;;) yield Buffer.alloc(SEG);
              })(),
              { signal: controller.signal },
            )
          : d.client.decryptStream(
              decHeader,
              (async function* () {
                yield header;
                yield segments[0]!;
                yield segments[1]!;
                await sleep(5_000);
              })(),
              { signal: controller.signal },
            );
      let received = 0;
      const err = await codeOf(
        (async () => {
          for await (const b of stream) {
            received += b.length;
            if (received >= (which === 'encrypt' ? 10 * SEG : SEG)) controller.abort();
          }
        })(),
      );
      t.is(err.code, grpc.status.CANCELLED, which);
      // The server sees the cancel asynchronously.
      await released();
      expectClean(t, `${which} cancelled`);
    }
    const s = d.daemon.streams.stats();
    t.true(s.failed >= 2);
    // Still serving: a unary call, a stream, and the admin API.
    const env = (await d.client.encrypt({ tenant: 'demo', policyId: 'files', plaintext: Buffer.from('still here') }))
      .envelope;
    t.is((await d.client.decrypt({ tenant: 'demo', envelope: env })).plaintext.toString(), 'still here');
    t.true(
      (
        await collect(
          d.client.decryptStream(decHeader, [
            await collect(d.client.encryptStream(encHeader(), [Buffer.from('again')])),
          ]),
        )
      ).equals(Buffer.from('again')),
    );
    t.is((await d.client.getStatus()).cacheEntries, before);
  },
);

test.serial('stream: a cancel while the stream waits for its key (cold cache) leaves nothing behind', async (t) => {
  await d.client.evict({ tenant: 'demo', id: 'files' });
  d.provider.latencyMs = 300;
  try {
    const controller = new AbortController();
    void d.provider.callStarted('unwrap').then(() => controller.abort()); // cancelled while its key loads
    const err = await streamCode(
      d.client.encryptStream(encHeader(), [Buffer.alloc(10)], { signal: controller.signal }),
    );
    t.is(err.code, grpc.status.CANCELLED);
    await released();
    expectClean(t, 'cancelled while leasing');
  } finally {
    d.provider.latencyMs = 0;
  }
});

test.serial("stream: the caller's deadline ends a stalled stream with DEADLINE_EXCEEDED and frees it", async (t) => {
  const stalled = (async function* () {
    yield Buffer.alloc(1000);
    await sleep(2_000);
  })();
  const err = await streamCode(d.client.encryptStream(encHeader(), stalled, { deadlineMs: 300 }));
  t.is(err.code, grpc.status.DEADLINE_EXCEEDED);
  await released();
  expectClean(t, 'deadline');
});

test.serial('stream: a revoke during a stream stops it at the next segment with FAILED_PRECONDITION', async (t) => {
  await createPolicy(d.client, 'rv-stream');
  // A decryptable envelope of the policy, made before the revoke.
  const envelope = await collect(d.client.encryptStream(encHeader('rv-stream'), generated(4 * 1024 * 1024)));
  let revoking: Promise<unknown> | undefined;
  let sentAfterRevoke = 0;
  async function* source() {
    for (let i = 0; ; i++) {
      if (!revoking && enc.bytesReceived >= 10 * SEG)
        revoking = d.client.revoke({ tenant: 'demo', id: 'rv-stream', reason: 'test' });
      if (i > 10_000) throw new Error('no progress');
      if (revoking) {
        if (++sentAfterRevoke > 200) throw new Error('the stream kept going after the revoke');
        await sleep(1);
      }
      yield Buffer.alloc(SEG);
    }
  }
  const enc: ContentStream = d.client.encryptStream(encHeader('rv-stream'), source());
  const err = await streamCode(enc);
  t.truthy(revoking);
  await revoking;
  t.deepEqual(err, { code: grpc.status.FAILED_PRECONDITION, details: 'policy demo/rv-stream is revoked' });
  t.true(enc.bytesReceived >= 10 * SEG, 'segments before the revoke went through');

  // Decrypt: the policy is revoked now, so a new DecryptStream is refused at its header...
  t.deepEqual(await streamCode(d.client.decryptStream(decHeader, [envelope])), {
    code: grpc.status.FAILED_PRECONDITION,
    details: 'policy demo/rv-stream is revoked',
  });
  expectClean(t, 'revoked');
});

test.serial('stream: a revoke during a DecryptStream stops it at the next segment', async (t) => {
  await createPolicy(d.client, 'rv-stream-2');
  const envelope = await collect(d.client.encryptStream(encHeader('rv-stream-2'), generated(8 * 1024 * 1024)));
  let received = 0;
  const err = await codeOf(
    (async () => {
      for await (const b of d.client.decryptStream(decHeader, [envelope])) {
        if (received === 0) await d.client.revoke({ tenant: 'demo', id: 'rv-stream-2' });
        received += b.length;
      }
    })(),
  );
  t.deepEqual(err, { code: grpc.status.FAILED_PRECONDITION, details: 'policy demo/rv-stream-2 is revoked' });
  t.true(received < 8 * 1024 * 1024, `stopped early (${received} bytes released before the revoke took effect)`);
  expectClean(t, 'revoked decrypt');
});
