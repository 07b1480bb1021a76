import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { MAX_ENVELOPE_OVERHEAD } from '../src/crypto/envelope-format.js';
import {
  ADMIN_REQUEST_BYTES,
  BATCH_ITEM_FRAMING,
  FIELD_ROOM,
  MAX_STRING_BYTES,
  STREAM_MAX_CHUNK_BYTES,
} from '../src/server/request-limits.js';
import {
  lenField,
  mapEntry,
  padTo,
  rawBidi,
  rawClient,
  rawUnary,
  varintField,
  type RawOutcome,
} from './helpers/proto-wire.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Each method's receive limit, checked on the request bytes before they are decoded (src/server/request-limits.ts),
// over real gRPC with raw bytes. Small limits so that they are cheap to reach.
const BLOCK = 4096;
const ITEMS = 8;
const BATCH = 4096;
let d: TestDaemon;
let raw: grpc.Client;
let rawAdmin: grpc.Client;
let envelope: Buffer;
test.before(async () => {
  // The idle bound raised: this file's tests run at once in the daemon's process and keep its event loop busy
  // for tens of seconds on a loaded machine, which the 30 s default took for a client gone idle.
  d = await startTestDaemon({
    maxBlockBytes: BLOCK,
    batchMaxItems: ITEMS,
    batchMaxBytes: BATCH,
    streamIdleTimeoutMs: 120_000,
  });
  raw = rawClient(d.daemon.address);
  rawAdmin = rawClient(d.daemon.adminAddress);
  envelope = (
    await d.client.encrypt({
      tenant: 'demo',
      policyId: 'demo-mailbox',
      plaintext: Buffer.from('hello'),
      context: { a: 'b' },
    })
  ).envelope;
});
test.after.always(async () => {
  raw?.close();
  rawAdmin?.close();
  await d?.stop();
});

const CRYPTO = '/unwrapd.v1.Crypto/';
const TENANT = lenField(1, 'demo');
const RE = grpc.status.RESOURCE_EXHAUSTED;
const IA = grpc.status.INVALID_ARGUMENT;

/** The daemon still serves an ordinary Decrypt (every refusal test ends with it). */
async function stillServes(t: { true(v: boolean): void }) {
  const out = await d.client.decrypt({ tenant: 'demo', envelope, context: { a: 'b' } });
  t.true(out.plaintext.equals(Buffer.from('hello')));
}

function assertRefused(t: { is(a: unknown, b: unknown): void }, out: RawOutcome, code: number, details: string) {
  t.is(out.code, code);
  t.is(out.details, details);
}

test('each unary method: a request of exactly its byte limit passes the scan, one byte more is RESOURCE_EXHAUSTED naming the limit', async (t) => {
  const cases: [string, number, Buffer, number, string][] = [
    // method, limit, prefix, padded field, how the limit is made up
    [
      'Encrypt',
      BLOCK + FIELD_ROOM,
      Buffer.concat([TENANT, lenField(2, 'demo-mailbox')]),
      3,
      `maxBlockBytes ${BLOCK} + ${FIELD_ROOM} for the other fields`,
    ],
    [
      'Decrypt',
      BLOCK + MAX_ENVELOPE_OVERHEAD + FIELD_ROOM,
      TENANT,
      2,
      `maxBlockBytes ${BLOCK} + ${MAX_ENVELOPE_OVERHEAD} of envelope overhead + ${FIELD_ROOM} for the other fields`,
    ],
    [
      'Rewrap',
      BLOCK + MAX_ENVELOPE_OVERHEAD + FIELD_ROOM,
      TENANT,
      2,
      `maxBlockBytes ${BLOCK} + ${MAX_ENVELOPE_OVERHEAD} of envelope overhead + ${FIELD_ROOM} for the other fields`,
    ],
  ];
  for (const [method, limit, prefix, field, explain] of cases) {
    const atLimit = await rawUnary(raw, CRYPTO + method, padTo(prefix, field, limit));
    // Past the scan: the handler answers (a block over maxBlockBytes, or an envelope that does not open).
    t.is(atLimit.code, IA, method);
    t.notRegex(atLimit.details, /exceeds its limit/, method);
    assertRefused(
      t,
      await rawUnary(raw, CRYPTO + method, padTo(prefix, field, limit + 1)),
      RE,
      `${method}: request of ${limit + 1} bytes exceeds its limit of ${limit} bytes (${explain})`,
    );
  }
  await stillServes(t);
});

/** One batch item (field `no` of the request) whose context is padded with entries so the request is `total` bytes. */
function batchPaddedTo(method: 'EncryptBatch' | 'DecryptBatch', total: number): Buffer {
  const prefix = method === 'EncryptBatch' ? Buffer.concat([TENANT, lenField(2, 'demo-mailbox')]) : TENANT;
  const itemsField = method === 'EncryptBatch' ? 3 : 2;
  const build = (entries: number, last: number) => {
    const ctx = Array.from({ length: entries }, (_, i) =>
      mapEntry(2, `k${i}`, 'v'.repeat(i === entries - 1 ? last : MAX_STRING_BYTES)),
    );
    return Buffer.concat([prefix, lenField(itemsField, Buffer.concat([lenField(1, 'x'), ...ctx]))]);
  };
  for (let entries = 1; entries <= 32; entries++) {
    if (build(entries, MAX_STRING_BYTES).length < total) continue;
    // The request only grows with the last value's length: the shortest one that reaches `total`, by bisection
    // (the length prefixes' varints can skip `total`; then one more entry).
    let [lo, hi] = [0, MAX_STRING_BYTES];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (build(entries, mid).length < total) lo = mid + 1;
      else hi = mid;
    }
    const out = build(entries, lo);
    if (out.length === total) return out;
  }
  throw new Error(`cannot build a ${method} of ${total} bytes`);
}

test('batches: exactly the byte limit passes (an item error for its context), one byte more is refused naming the limit', async (t) => {
  for (const [method, limit, perItem] of [
    ['EncryptBatch', BATCH + ITEMS * BATCH_ITEM_FRAMING + FIELD_ROOM, BATCH_ITEM_FRAMING],
    [
      'DecryptBatch',
      BATCH + ITEMS * (MAX_ENVELOPE_OVERHEAD + BATCH_ITEM_FRAMING) + FIELD_ROOM,
      MAX_ENVELOPE_OVERHEAD + BATCH_ITEM_FRAMING,
    ],
  ] as const) {
    const ok = await rawUnary(raw, CRYPTO + method, batchPaddedTo(method, limit));
    t.is(ok.code, grpc.status.OK, `${method}: ${ok.details}`);
    const over = await rawUnary(raw, CRYPTO + method, batchPaddedTo(method, limit + 1));
    assertRefused(
      t,
      over,
      RE,
      `${method}: request of ${limit + 1} bytes exceeds its limit of ${limit} bytes (batchMaxBytes ${BATCH} + ${perItem} per item for ${ITEMS} items (batchMaxItems) + ${FIELD_ROOM})`,
    );
  }
  await stillServes(t);
});

test('batches: batchMaxItems items pass, one more is RESOURCE_EXHAUSTED; payload over batchMaxBytes too', async (t) => {
  const item = (no: number, n: number) => lenField(no, lenField(1, Buffer.alloc(n, 1)));
  const enc = (count: number, n = 1) =>
    Buffer.concat([TENANT, lenField(2, 'demo-mailbox'), ...Array.from({ length: count }, () => item(3, n))]);
  t.is((await rawUnary(raw, CRYPTO + 'EncryptBatch', enc(ITEMS))).code, grpc.status.OK);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'EncryptBatch', enc(ITEMS + 1)),
    RE,
    `EncryptBatch: ${ITEMS + 1} or more items exceed batchMaxItems (${ITEMS})`,
  );
  t.is((await rawUnary(raw, CRYPTO + 'EncryptBatch', enc(4, BATCH / 4))).code, grpc.status.OK);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'EncryptBatch', enc(4, BATCH / 4 + 1)),
    RE,
    `EncryptBatch: ${BATCH + 4} plaintext bytes exceed ${BATCH} (batchMaxBytes)`,
  );
  const dec = (count: number, n = 1) => Buffer.concat([TENANT, ...Array.from({ length: count }, () => item(2, n))]);
  t.is((await rawUnary(raw, CRYPTO + 'DecryptBatch', dec(ITEMS))).code, grpc.status.OK);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'DecryptBatch', dec(ITEMS + 1)),
    RE,
    `DecryptBatch: ${ITEMS + 1} or more items exceed batchMaxItems (${ITEMS})`,
  );
  const envLimit = BATCH + 2 * MAX_ENVELOPE_OVERHEAD;
  t.is((await rawUnary(raw, CRYPTO + 'DecryptBatch', dec(2, envLimit / 2))).code, grpc.status.OK);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'DecryptBatch', dec(2, envLimit / 2 + 1)),
    RE,
    `DecryptBatch: ${envLimit + 2} envelope bytes exceed ${envLimit} (batchMaxBytes ${BATCH} + ${MAX_ENVELOPE_OVERHEAD} per item)`,
  );
  await stillServes(t);
});

test('contexts: 32 entries pass, 33 are RESOURCE_EXHAUSTED before decoding, in a request, a batch item and a stream header', async (t) => {
  const ctx = (n: number, no: number) => Buffer.concat(Array.from({ length: n }, (_, i) => mapEntry(no, `k${i}`, 'v')));
  const encrypt = (n: number) => Buffer.concat([TENANT, lenField(2, 'demo-mailbox'), lenField(3, 'x'), ctx(n, 4)]);
  t.is((await rawUnary(raw, CRYPTO + 'Encrypt', encrypt(32))).code, grpc.status.OK);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'Encrypt', encrypt(33)),
    RE,
    'Encrypt: context: more than 32 entries exceed the context limit (32)',
  );
  // 4,000 entries: refused at the 33rd, whatever follows.
  const flood = Buffer.concat([TENANT, lenField(2, 'demo-mailbox'), ctx(4_000, 4)]);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'Encrypt', flood),
    RE,
    'Encrypt: context: more than 32 entries exceed the context limit (32)',
  );
  const batch = Buffer.concat([
    TENANT,
    lenField(2, 'demo-mailbox'),
    lenField(3, lenField(1, 'x')),
    lenField(3, Buffer.concat([lenField(1, 'x'), ctx(33, 2)])),
  ]);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'EncryptBatch', batch),
    RE,
    'EncryptBatch: items[1].context: more than 32 entries exceed the context limit (32)',
  );
  const header = lenField(1, Buffer.concat([TENANT, lenField(2, 'demo-mailbox'), ctx(33, 3)]));
  assertRefused(
    t,
    await rawBidi(raw, CRYPTO + 'EncryptStream', [header]),
    RE,
    'EncryptStream: header.context: more than 32 entries exceed the context limit (32)',
  );
  await stillServes(t);
});

// Serial: ava runs it before the concurrent tests of this file, whose large requests share this process's event
// loop with the in-process daemon and could starve this stream past its deadline on a loaded machine.
test.serial(
  'streams: a chunk of exactly streamMaxChunkBytes passes, one byte more is RESOURCE_EXHAUSTED; header and chunk in one message are refused',
  async (t) => {
    const header = lenField(1, Buffer.concat([TENANT, lenField(2, 'demo-mailbox')]));
    const ok = await rawBidi(raw, CRYPTO + 'EncryptStream', [
      header,
      lenField(2, Buffer.alloc(STREAM_MAX_CHUNK_BYTES, 7)),
    ]);
    t.is(ok.code, grpc.status.OK, ok.details);
    const over = await rawBidi(raw, CRYPTO + 'EncryptStream', [
      header,
      lenField(2, Buffer.alloc(STREAM_MAX_CHUNK_BYTES + 1, 7)),
    ]);
    assertRefused(
      t,
      over,
      RE,
      `EncryptStream: chunk of ${STREAM_MAX_CHUNK_BYTES + 1} bytes exceeds streamMaxChunkBytes (${STREAM_MAX_CHUNK_BYTES})`,
    );
    const both = await rawBidi(raw, CRYPTO + 'DecryptStream', [Buffer.concat([lenField(1, TENANT), lenField(2, 'x')])]);
    assertRefused(t, both, IA, 'DecryptStream: malformed request: chunk is a second member of a oneof');
    t.is(d.daemon.streams.stats().open, 0);
    await stillServes(t);
  },
);

test('strings: longer than maxStringBytes is RESOURCE_EXHAUSTED, invalid UTF-8 INVALID_ARGUMENT, on Crypto and Admin', async (t) => {
  const long = Buffer.concat([lenField(1, 'd'.repeat(MAX_STRING_BYTES + 1)), lenField(2, envelope)]);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'Decrypt', long),
    RE,
    `Decrypt: tenant is ${MAX_STRING_BYTES + 1} bytes; string fields are at most ${MAX_STRING_BYTES} bytes (maxStringBytes)`,
  );
  const badId = Buffer.concat([lenField(1, Buffer.from([0x64, 0xc0, 0xaf])), lenField(2, envelope)]);
  assertRefused(
    t,
    await rawUnary(raw, CRYPTO + 'Decrypt', badId),
    IA,
    'Decrypt: malformed request: tenant is not valid UTF-8',
  );
  const revoke = (reason: Buffer) => Buffer.concat([TENANT, lenField(2, 'no-such-policy'), lenField(3, reason)]);
  assertRefused(
    t,
    await rawUnary(rawAdmin, '/unwrapd.v1.Admin/Revoke', revoke(Buffer.alloc(MAX_STRING_BYTES + 1, 0x61))),
    RE,
    `Revoke: reason is ${MAX_STRING_BYTES + 1} bytes; string fields are at most ${MAX_STRING_BYTES} bytes (maxStringBytes)`,
  );
  assertRefused(
    t,
    await rawUnary(rawAdmin, '/unwrapd.v1.Admin/Revoke', revoke(Buffer.from([0xed, 0xa0, 0x80]))),
    IA,
    'Revoke: malformed request: reason is not valid UTF-8',
  );
  // Past the Admin limit: grpc-js's own check (the Admin limit is its listener's receive limit), before any buffering.
  const big = await rawUnary(rawAdmin, '/unwrapd.v1.Admin/GetStatus', lenField(1, Buffer.alloc(ADMIN_REQUEST_BYTES)));
  t.is(big.code, RE);
  t.regex(big.details, new RegExp(`${ADMIN_REQUEST_BYTES}`));
  await stillServes(t);
});

test('malformed requests are INVALID_ARGUMENT naming the problem: unknown field, wrong wire type, duplicate field, truncation, group', async (t) => {
  const cases: [Buffer, string][] = [
    [Buffer.concat([TENANT, lenField(2, envelope), lenField(9, 'x')]), 'unknown field 9 in DecryptRequest'],
    [Buffer.concat([varintField(1, 5), lenField(2, envelope)]), 'tenant has wire type 0'],
    [Buffer.concat([TENANT, TENANT, lenField(2, envelope)]), 'tenant appears twice'],
    [Buffer.concat([TENANT, lenField(2, envelope)]).subarray(0, 20), 'envelope is truncated'],
    [Buffer.concat([TENANT, Buffer.from([0x13])]), 'envelope has wire type 3'],
    [Buffer.concat([TENANT, Buffer.from([0x00, 0x00])]), 'field number 0 in DecryptRequest'],
    [
      Buffer.concat([TENANT, lenField(2, envelope), mapEntry(3, 'a', 'b'), mapEntry(3, 'a', 'c')]),
      'context has a duplicate key',
    ],
    [
      Buffer.concat([TENANT, lenField(2, envelope), Buffer.from([0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]),
      'a 32-bit varint of an unexpected length',
    ],
  ];
  for (const [bytes, problem] of cases) {
    assertRefused(t, await rawUnary(raw, CRYPTO + 'Decrypt', bytes), IA, `Decrypt: malformed request: ${problem}`);
  }
  await stillServes(t);
});

test('compressed requests: the limits hold for the decompressed bytes; a gzip bomb is stopped at the receive limit', async (t) => {
  const gz = rawClient(d.daemon.address, { 'grpc.default_compression_algorithm': 2 });
  try {
    const limit = BLOCK + FIELD_ROOM;
    const prefix = Buffer.concat([TENANT, lenField(2, 'demo-mailbox')]);
    const over = await rawUnary(gz, CRYPTO + 'Encrypt', padTo(prefix, 3, limit + 1));
    assertRefused(
      t,
      over,
      RE,
      `Encrypt: request of ${limit + 1} bytes exceeds its limit of ${limit} bytes (maxBlockBytes ${BLOCK} + ${FIELD_ROOM} for the other fields)`,
    );
    const items = Buffer.concat([TENANT, Buffer.alloc(60_000).fill(Buffer.from([0x12, 0x00]))]);
    assertRefused(
      t,
      await rawUnary(gz, CRYPTO + 'DecryptBatch', items),
      RE,
      `DecryptBatch: ${ITEMS + 1} or more items exceed batchMaxItems (${ITEMS})`,
    );
    // 64 MiB of zeros compresses to ~64 KiB; grpc-js stops inflating past the listener's receive limit.
    const bomb = await rawUnary(
      gz,
      CRYPTO + 'Encrypt',
      Buffer.concat([prefix, lenField(3, Buffer.alloc(64 * 1024 * 1024))]),
    );
    t.is(bomb.code, RE);
    t.regex(bomb.details, /decompresses to a size larger than \d+/);
    // And a compressed request within its limits is served.
    const ok = await rawUnary(gz, CRYPTO + 'Encrypt', Buffer.concat([prefix, lenField(3, 'hi')]));
    t.is(ok.code, grpc.status.OK, ok.details);
  } finally {
    gz.close();
  }
  await stillServes(t);
});
