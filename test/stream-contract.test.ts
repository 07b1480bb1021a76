import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { loadProto } from '../src/rpc/proto.js';
import { rawClient } from './helpers/proto-wire.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// The stream details docs/api.md states ("Streams (files)"), each checked on the wire with a raw client.

type Codec = { requestSerialize: (v: object) => Buffer; responseDeserialize: (b: Buffer) => Record<string, unknown> };
const service = loadProto().proto.unwrapd.v1.Crypto.service as unknown as Record<string, Codec>;
const SEG = 4096;
const ctx = { file: 'report.pdf' };

let d: TestDaemon;
let client: grpc.Client;
test.before(async () => {
  d = await startTestDaemon({ streamSegmentBytes: SEG });
  client = rawClient(d.daemon.address);
});
test.after.always(async () => {
  client?.close();
  await d?.stop();
});

interface Call {
  write(message: object): void;
  end(): void;
  /** The next response, decoded; null at the end of the stream. */
  next(): Promise<Record<string, unknown> | null>;
  /** Every remaining response, then the status (OK or the error). */
  rest(): Promise<{ responses: Record<string, unknown>[]; code: number; details: string }>;
}

function open(method: 'EncryptStream' | 'DecryptStream'): Call {
  const codec = service[method]!;
  const identity = (b: Buffer) => b;
  const call = client.makeBidiStreamRequest(`/unwrapd.v1.Crypto/${method}`, identity, identity, new grpc.Metadata(), {
    deadline: Date.now() + 60_000,
  });
  const queue: (Buffer | null)[] = [];
  let wake: (() => void) | undefined;
  let status: { code: number; details: string } | undefined;
  const ended = new Promise<void>((resolve) => {
    call.on('status', (s: grpc.StatusObject) => {
      status = { code: s.code, details: s.details };
      resolve();
    });
  });
  call.on('error', () => {});
  call.on('data', (b: Buffer) => (queue.push(b), wake?.()));
  call.on('end', () => (queue.push(null), wake?.()));
  const next = async () => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    const b = queue.shift()!;
    return b === null ? null : codec.responseDeserialize(b);
  };
  return {
    write: (m) => call.write(codec.requestSerialize(m)),
    end: () => call.end(),
    next,
    async rest() {
      const responses: Record<string, unknown>[] = [];
      await Promise.race([ended, once(call, 'end')]);
      for (let r = await next(); r !== null; r = await next()) responses.push(r);
      await ended;
      return { responses, ...status! };
    },
  };
}

async function encrypt(content: Buffer): Promise<Buffer> {
  const call = open('EncryptStream');
  call.write({ header: { tenant: 'demo', policyId: 'demo-mailbox', context: ctx } });
  call.write({ chunk: content });
  call.end();
  const { responses, code } = await call.rest();
  if (code !== grpc.status.OK) throw new Error(`EncryptStream ${code}`);
  return Buffer.concat(responses.map((r) => r.data as Buffer));
}

test('EncryptStream sends the envelope header before any chunk, and key_version on every response', async (t) => {
  const call = open('EncryptStream');
  call.write({ header: { tenant: 'demo', policyId: 'demo-mailbox', context: ctx } });
  // No chunk sent yet: the header comes anyway (after the key is in hand).
  const first = await call.next();
  t.truthy(first);
  t.is((first!.data as Buffer).subarray(0, 3).toString('hex'), '555702'); // magic, segmented format v2
  t.is(first!.keyVersion, 1);
  call.write({ chunk: randomBytes(2 * SEG + 7) });
  call.end();
  const { responses, code } = await call.rest();
  t.is(code, grpc.status.OK);
  t.is(responses.length, 3); // two full segments and the final one
  for (const r of responses) t.is(r.keyVersion, 1);
});

test('empty chunks are accepted anywhere, by both streams', async (t) => {
  const content = randomBytes(SEG + 10);
  const enc = open('EncryptStream');
  enc.write({ header: { tenant: 'demo', policyId: 'demo-mailbox', context: ctx } });
  enc.write({ chunk: Buffer.alloc(0) });
  enc.write({ chunk: content.subarray(0, 100) });
  enc.write({ chunk: Buffer.alloc(0) });
  enc.write({ chunk: content.subarray(100) });
  enc.write({ chunk: Buffer.alloc(0) });
  enc.end();
  const e = await enc.rest();
  t.is(e.code, grpc.status.OK);
  const envelope = Buffer.concat(e.responses.map((r) => r.data as Buffer));

  const dec = open('DecryptStream');
  dec.write({ header: { tenant: 'demo', context: ctx } });
  dec.write({ chunk: Buffer.alloc(0) });
  for (let off = 0; off < envelope.length; off += 1000) {
    dec.write({ chunk: envelope.subarray(off, off + 1000) });
    dec.write({ chunk: Buffer.alloc(0) });
  }
  dec.end();
  const r = await dec.rest();
  t.is(r.code, grpc.status.OK);
  t.true(Buffer.concat(r.responses.map((x) => x.plaintext as Buffer)).equals(content));
});

test('DecryptStream: policy_id and key_version in the first response only; the final segment is always a response, empty when the content ends on a segment boundary', async (t) => {
  for (const [size, count, lastLength] of [
    [0, 1, 0], // one empty final segment: one empty response, with policy_id and key_version
    [2 * SEG, 3, 0], // two full segments, then an empty final one
    [SEG + 5, 2, 5],
  ] as const) {
    const envelope = await encrypt(randomBytes(size));
    const call = open('DecryptStream');
    call.write({ header: { tenant: 'demo', context: ctx } });
    call.write({ chunk: envelope });
    call.end();
    const { responses, code } = await call.rest();
    t.is(code, grpc.status.OK);
    t.is(responses.length, count, `${size} bytes`);
    t.is(responses[0]!.policyId, 'demo-mailbox');
    t.is(responses[0]!.keyVersion, 1);
    for (const r of responses.slice(1)) {
      t.is(r.policyId, '');
      t.is(r.keyVersion, 0);
    }
    t.is((responses.at(-1)!.plaintext as Buffer).length, lastLength);
  }
});

test('DecryptStream refuses a header with a policy_id: INVALID_ARGUMENT', async (t) => {
  const call = open('DecryptStream');
  call.write({ header: { tenant: 'demo', policyId: 'demo-mailbox', context: ctx } });
  call.end();
  const { code, details, responses } = await call.rest();
  t.is(responses.length, 0);
  t.is(code, grpc.status.INVALID_ARGUMENT);
  t.is(details, 'DecryptStream takes no policy_id: the envelope names its policy');
});

test('a chunk of 256 KiB is accepted; one byte more is RESOURCE_EXHAUSTED naming the chunk limit', async (t) => {
  const ok = open('EncryptStream');
  ok.write({ header: { tenant: 'demo', policyId: 'demo-mailbox', context: ctx } });
  ok.write({ chunk: randomBytes(256 * 1024) });
  ok.end();
  t.is((await ok.rest()).code, grpc.status.OK);

  const over = open('EncryptStream');
  over.write({ header: { tenant: 'demo', policyId: 'demo-mailbox', context: ctx } });
  over.write({ chunk: randomBytes(256 * 1024 + 1) });
  over.end();
  const r = await over.rest();
  t.is(r.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(r.details, /^EncryptStream: chunk of 262145 bytes exceeds .*262144/);
});

test('a missing or repeated header is INVALID_ARGUMENT', async (t) => {
  const none = open('EncryptStream');
  none.write({ chunk: Buffer.from('data') });
  none.end();
  t.is((await none.rest()).code, grpc.status.INVALID_ARGUMENT);
  const twice = open('DecryptStream');
  twice.write({ header: { tenant: 'demo', context: ctx } });
  twice.write({ header: { tenant: 'demo', context: ctx } });
  twice.end();
  t.is((await twice.rest()).code, grpc.status.INVALID_ARGUMENT);
});
