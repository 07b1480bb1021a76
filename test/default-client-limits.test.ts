import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/config.js';
import { sealBlock, type EnvelopeRef } from '../src/crypto/envelope.js';
import { loadProto } from '../src/rpc/proto.js';
import {
  BATCH_ITEM_RESPONSE_ROOM,
  DEFAULT_CLIENT_RECEIVE_BYTES,
  largestResponses,
  responsesOverClientDefault,
} from '../src/server/response-limits.js';
import { rawClient, rawUnary } from './helpers/proto-wire.js';
import type { Logger } from '../src/log/logger.js';
import { sealSegmented } from './helpers/sealed-envelope.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Every Crypto response at the default settings fits what a default-configured gRPC client accepts (4 MiB):
// each method's worst case is built and called through a client whose receive (and send) limit is 4 MiB.

const MAX = DEFAULT_CLIENT_RECEIVE_BYTES;
const defaults = loadConfig({}, {});
const largest = largestResponses(defaults);
const service = loadProto().proto.unwrapd.v1.Crypto.service as unknown as Record<
  string,
  { requestSerialize: (v: object) => Buffer; responseDeserialize: (b: Buffer) => Record<string, unknown> }
>;

const T64 = 'T'.repeat(64);
const P64 = 'P'.repeat(64);
let d: TestDaemon;
let client: grpc.Client;
test.before(async () => {
  d = await startTestDaemon();
  await createPolicy(d.client, P64, T64);
  await createPolicy(d.client, 'p', T64);
  await createPolicy(d.client, 'y', 'x');
  client = rawClient(d.daemon.address, {
    'grpc.max_receive_message_length': MAX,
    'grpc.max_send_message_length': MAX,
  });
});
test.after.always(async () => {
  client?.close();
  await d?.stop();
});

/** A block envelope sealed with the daemon's own key of `ref`, of any size (the daemon's Encrypt caps it). */
function seal(ref: EnvelopeRef, plaintext: Buffer): Promise<Buffer> {
  const req = { tenant: ref.tenant, purpose: 'user' as const, requestId: '', signal: new AbortController().signal };
  return d.daemon.crypto.leases.withKey(ref, 'write', req, (kek) => sealBlock({ ref, kek, plaintext, context: {} }), 0);
}

async function unary(method: string, request: object): Promise<Buffer> {
  const out = await rawUnary(client, `/unwrapd.v1.Crypto/${method}`, service[method]!.requestSerialize(request));
  if (out.code !== grpc.status.OK) throw new Error(`${method}: ${out.code} ${out.details}`);
  return out.response!;
}

/** A bidi call: sends `messages`, half-closes, returns every response's size. */
function bidi(method: string, messages: object[]): Promise<number[]> {
  const identity = (b: Buffer) => b;
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(`/unwrapd.v1.Crypto/${method}`, identity, identity, new grpc.Metadata(), {
      deadline: Date.now() + 60_000,
    });
    const sizes: number[] = [];
    call.on('data', (b: Buffer) => sizes.push(b.length));
    call.on('error', reject);
    call.on('end', () => resolve(sizes));
    for (const m of messages) call.write(service[method]!.requestSerialize(m));
    call.end();
  });
}

function fits(t: import('ava').ExecutionContext, method: string, size: number): void {
  t.log(`${method}: response of ${size} bytes; bound ${largest[method]!.bytes}; client limit ${MAX}`);
  t.true(size <= largest[method]!.bytes, `${method}: ${size} over its computed bound`);
}

test('at the defaults every computed largest response is under 4 MiB, with room to spare', (t) => {
  t.deepEqual(responsesOverClientDefault(defaults), []);
  for (const [method, r] of Object.entries(largest)) t.true(r.bytes <= MAX - 32 * 1024, `${method}: ${r.bytes}`);
  t.is(defaults.maxBlockBytes, 4 * 1024 * 1024 - 64 * 1024);
  t.is(defaults.batchMaxBytes, 3 * 1024 * 1024);
  // Raised limits are reported (the daemon warns at start).
  t.deepEqual(
    responsesOverClientDefault({ ...defaults, maxBlockBytes: MAX }).map((o) => o.method),
    ['Encrypt', 'Decrypt', 'Rewrap'],
  );
});

test.serial('Encrypt of maxBlockBytes under 64-byte ids', async (t) => {
  const res = await unary('Encrypt', { tenant: T64, policyId: P64, plaintext: randomBytes(defaults.maxBlockBytes) });
  fits(t, 'Encrypt', res.length);
});

test.serial(
  'Decrypt of the largest envelope it accepts, with 1-byte ids (plaintext maxBlockBytes + 126)',
  async (t) => {
    const envelope = await seal(
      { tenant: 'x', policyId: 'y', keyVersion: 1 },
      randomBytes(defaults.maxBlockBytes + 126),
    );
    t.is(envelope.length, defaults.maxBlockBytes + 241);
    const res = await unary('Decrypt', { tenant: 'x', envelope });
    t.is((service.Decrypt!.responseDeserialize(res).plaintext as Buffer).length, defaults.maxBlockBytes + 126);
    fits(t, 'Decrypt', res.length);
  },
);

test.serial('Rewrap of the largest envelope from a 1-byte policy id to a 64-byte one', async (t) => {
  const envelope = await seal({ tenant: T64, policyId: 'p', keyVersion: 1 }, randomBytes(defaults.maxBlockBytes + 63));
  t.is(envelope.length, defaults.maxBlockBytes + 241);
  const res = await unary('Rewrap', { tenant: T64, envelope, targetPolicyId: P64 });
  t.is((service.Rewrap!.responseDeserialize(res).envelope as Buffer).length, defaults.maxBlockBytes + 304);
  fits(t, 'Rewrap', res.length);
});

test.serial('EncryptBatch of batchMaxItems items holding batchMaxBytes, under 64-byte ids', async (t) => {
  const each = defaults.batchMaxBytes / defaults.batchMaxItems;
  const items = Array.from({ length: defaults.batchMaxItems }, () => ({ plaintext: randomBytes(each) }));
  const res = await unary('EncryptBatch', { tenant: T64, policyId: P64, items });
  fits(t, 'EncryptBatch', res.length);
});

test.serial(
  'DecryptBatch of batchMaxItems envelopes holding its whole envelope allowance, with 1-byte ids',
  async (t) => {
    const n = defaults.batchMaxItems;
    const envelopeBytes = Math.floor((defaults.batchMaxBytes + 241 * n) / n);
    const plaintext = randomBytes(envelopeBytes - 115);
    const envelope = await seal({ tenant: 'x', policyId: 'y', keyVersion: 1 }, plaintext);
    const res = await unary('DecryptBatch', { tenant: 'x', items: Array.from({ length: n }, () => ({ envelope })) });
    const results = service.DecryptBatch!.responseDeserialize(res).results as { ok?: unknown }[];
    t.true(results.every((r) => r.ok));
    fits(t, 'DecryptBatch', res.length);
  },
);

test.serial(`batches of errors only: each item's result is within ${BATCH_ITEM_RESPONSE_ROOM} bytes`, async (t) => {
  const n = defaults.batchMaxItems;
  const garbage = { envelope: randomBytes(300), context: { ['k'.repeat(128)]: 'v'.repeat(1024) } };
  const dec = await unary('DecryptBatch', { tenant: T64, items: Array.from({ length: n }, () => garbage) });
  const badContext = { plaintext: Buffer.alloc(1), context: { ['k'.repeat(129)]: 'v' } };
  const enc = await unary('EncryptBatch', {
    tenant: T64,
    policyId: P64,
    items: Array.from({ length: n }, () => badContext),
  });
  for (const [method, res] of [
    ['DecryptBatch', dec],
    ['EncryptBatch', enc],
  ] as const) {
    const results = service[method]!.responseDeserialize(res).results as { error?: unknown }[];
    t.true(results.every((r) => r.error));
    t.log(`${method}: ${n} errors in ${res.length} bytes`);
    t.true(res.length <= n * BATCH_ITEM_RESPONSE_ROOM);
    fits(t, method, res.length);
  }
});

test.serial('EncryptStream at streamSegmentBytes, and DecryptStream of streamMaxSegmentBytes segments', async (t) => {
  const header = { header: { tenant: T64, policyId: P64 } };
  const content = randomBytes(2 * defaults.streamSegmentBytes + 5);
  const sizes = await bidi('EncryptStream', [header, { chunk: content }]);
  t.is(sizes.length, 4); // the header, two full segments, the final one
  fits(t, 'EncryptStream', Math.max(...sizes));

  // A segmented envelope with the largest segments the daemon reads at its defaults, sealed with its key.
  const ref = { tenant: T64, policyId: P64, keyVersion: 1 };
  const S = defaults.streamMaxSegmentBytes;
  const envelope = await sealSegmented(d, ref, randomBytes(2 * S), S);
  const chunks: object[] = [{ header: { tenant: T64 } }];
  for (let off = 0; off < envelope.length; off += 256 * 1024)
    chunks.push({ chunk: envelope.subarray(off, off + 256 * 1024) });
  const out = await bidi('DecryptStream', chunks);
  t.true(Math.max(...out) > S);
  fits(t, 'DecryptStream', Math.max(...out));
});

test('a daemon whose limits make responses over 4 MiB says so at start, naming the methods', async (t) => {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = {
    debug: () => {},
    info: () => {},
    warn: (msg, fields) => void warnings.push({ msg, ...(fields ? { fields } : {}) }),
    error: () => {},
    child: () => log,
  };
  const raised = await startTestDaemon({ maxBlockBytes: MAX }, { log });
  await raised.stop();
  const over = warnings.filter((w) => w.msg === 'responses may exceed the default receive limit of gRPC clients');
  t.deepEqual(
    over.map((w) => w.fields?.method),
    ['Encrypt', 'Decrypt', 'Rewrap'],
  );
  t.is(over[0]!.fields?.largest_response_bytes, largestResponses({ ...defaults, maxBlockBytes: MAX }).Encrypt!.bytes);
});

test.serial('a request over its limit, however large, is refused naming the setting and its value', async (t) => {
  const big = rawClient(d.daemon.address); // sends anything
  try {
    const limit = defaults.maxBlockBytes + 65536;
    for (const size of [limit, 5 * 1024 * 1024, 64 * 1024 * 1024]) {
      const request = service.Encrypt!.requestSerialize({
        tenant: 'demo',
        policyId: 'demo-mailbox',
        plaintext: Buffer.alloc(size),
      });
      const out = await rawUnary(big, '/unwrapd.v1.Crypto/Encrypt', request);
      t.is(out.code, grpc.status.RESOURCE_EXHAUSTED);
      t.is(
        out.details,
        `Encrypt: request of ${request.length} bytes exceeds its limit of ${limit} bytes (maxBlockBytes ${defaults.maxBlockBytes} + 65536 for the other fields)`,
      );
    }
    // A stream message: its method's own limit, from the length prefix (not the listener's larger one).
    const chunk = service.EncryptStream!.requestSerialize({ chunk: Buffer.alloc(5 * 1024 * 1024) });
    const identity = (b: Buffer) => b;
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = big.makeBidiStreamRequest(
        '/unwrapd.v1.Crypto/EncryptStream',
        identity,
        identity,
        new grpc.Metadata(),
      );
      call.on('status', resolve);
      call.on('error', () => {});
      call.on('data', () => {});
      call.write(service.EncryptStream!.requestSerialize({ header: { tenant: 'demo', policyId: 'demo-mailbox' } }));
      call.write(chunk);
      call.end();
    });
    t.is(status.code, grpc.status.RESOURCE_EXHAUSTED);
    t.is(
      status.details,
      `EncryptStream: request of ${chunk.length} bytes exceeds its limit of 327680 bytes (a chunk of at most 262144 + 65536 for the other fields)`,
    );
  } finally {
    big.close();
  }
});
