import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { STREAM_MAX_CHUNK_BYTES } from '../src/server/request-limits.js';
import { lenField, rawBidi, rawClient } from './helpers/proto-wire.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// A stream message refused by the wire scan while the handler is already writing responses: the client gets the
// refusal's status at once (before, the handler's later writes went out after the status had ended the HTTP/2
// stream, its trailers never left, and the client waited for its deadline), and the stream's admission, budget
// charge and key are released.
let d: TestDaemon;
let raw: grpc.Client;
test.before(async () => {
  d = await startTestDaemon({});
  raw = rawClient(d.daemon.address);
});
test.after.always(async () => {
  raw?.close();
  await d?.stop();
});

const header = lenField(1, Buffer.concat([lenField(1, 'demo'), lenField(2, 'demo-mailbox')]));
const segments = lenField(2, Buffer.alloc(200_000, 7)); // three 64 KiB segments written back at once
const unknownField = Buffer.from([0x18, 0x01]);
const oversized = lenField(2, Buffer.alloc(STREAM_MAX_CHUNK_BYTES + 1, 7));

test('a stream message refused mid-stream, while responses are being written, gets its status at once and releases everything', async (t) => {
  const cases: [Buffer[], number, string][] = [
    [
      [header, segments, unknownField],
      grpc.status.INVALID_ARGUMENT,
      'EncryptStream: malformed request: unknown field 3 in EncryptStreamRequest',
    ],
    [
      [header, segments, segments, unknownField, segments],
      grpc.status.INVALID_ARGUMENT,
      'EncryptStream: malformed request: unknown field 3 in EncryptStreamRequest',
    ],
    [
      [header, segments, oversized],
      grpc.status.RESOURCE_EXHAUSTED,
      `EncryptStream: chunk of ${STREAM_MAX_CHUNK_BYTES + 1} bytes exceeds streamMaxChunkBytes (${STREAM_MAX_CHUNK_BYTES})`,
    ],
  ];
  for (const [messages, code, details] of cases) {
    const out = await rawBidi(raw, '/unwrapd.v1.Crypto/EncryptStream', messages, 20_000);
    t.is(out.code, code, out.details);
    t.is(out.details, details);
  }
  // The handlers end on the call's cancellation, a turn after the status: wait for the counters to settle.
  const busy = () => d.daemon.streamLimits.stats().open > 0 || d.daemon.streams.stats().open > 0;
  for (let i = 0; i < 10_000 && busy(); i++) await new Promise((r) => setImmediate(r));
  t.is(d.daemon.streamLimits.stats().open, 0);
  t.is(d.daemon.streamLimits.stats().bufferedBytes, 0);
  t.is(d.daemon.streams.stats().liveKeys, 0);
  // And the daemon keeps serving.
  const sealed = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('still here'),
  });
  t.is((await d.client.decrypt({ tenant: 'demo', envelope: sealed.envelope })).plaintext.toString(), 'still here');
});
