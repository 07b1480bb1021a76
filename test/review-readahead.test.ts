import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../src/rpc/proto.js';
import { STREAM_MAX_CHUNK_BYTES } from '../src/server/request-limits.js';
import { startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';

// What stalled streams make the daemon hold stays within streamBufferBudgetBytes. A client sends chunks of the
// per-message cap and never reads its responses: the handler waits on its writes (charged), grpc-js reads at
// most one message ahead (its object-mode Readable is limited to one message) and every stream's reservation
// (STREAM_RESERVED_BYTES) covers that and the HTTP/2 window. Before: 8 such streams with 1 MiB chunks under a
// 4 MiB budget held 20-35 MiB of Buffers in the daemon (grpc-js read up to 16 messages ahead, uncharged).
const MiB = 1024 * 1024;
const STREAMS = 8;
const BUDGET = 4 * MiB;
let p: DaemonProcess;
test.before(async () => {
  p = await startDaemonProcess({ streamBufferBudgetBytes: BUDGET, streamIdleTimeoutMs: 120_000 });
});
test.after.always(async () => {
  await p?.stop();
});

test('the shared buffer budget bounds what stalled streams make the daemon hold (grpc-js read-ahead included)', async (t) => {
  const { proto } = loadProto();
  const Crypto = proto.unwrapd.v1.Crypto as unknown as grpc.ServiceClientConstructor;
  const clients = Array.from({ length: STREAMS }, () => new Crypto(p.address, grpc.credentials.createInsecure()));
  const base = (await p.stats()).memory.arrayBuffers;
  const chunk = Buffer.alloc(STREAM_MAX_CHUNK_BYTES, 7);
  const calls = clients.map((c) => {
    const call = (c as unknown as { EncryptStream(): grpc.ClientDuplexStream<object, object> }).EncryptStream();
    call.on('error', () => {});
    call.write({ header: { tenant: 'demo', policyId: 'demo-mailbox' } });
    for (let i = 0; i < 160; i++) call.write({ chunk }); // and never read the responses
    return call;
  });
  // Poll the daemon (each sample runs two full GCs in it) until its memory has grown and settled.
  let last = 0;
  let stable = 0;
  let grown = 0;
  let peak = 0;
  for (let i = 0; i < 200 && stable < 5; i++) {
    grown = (await p.stats()).memory.arrayBuffers - base;
    peak = Math.max(peak, grown);
    stable = grown > MiB && Math.abs(grown - last) < MiB / 4 ? stable + 1 : 0;
    last = grown;
    await new Promise((r) => setTimeout(r, 50)); // poll interval only
  }
  const streams = (await p.stats()).streams;
  t.log(
    `${STREAMS} stalled EncryptStreams: daemon Buffers +${(grown / MiB).toFixed(1)} MiB (peak +${(peak / MiB).toFixed(1)}); charged ${(streams.inFlightBytes / MiB).toFixed(1)} MiB; budget ${BUDGET / MiB} MiB; ${streams.open} open`,
  );
  for (const c of calls) c.cancel();
  for (const c of clients) c.close();
  t.true(
    peak < BUDGET + STREAMS * 256 * 1024,
    `daemon held +${(peak / MiB).toFixed(1)} MiB for a ${BUDGET / MiB} MiB budget`,
  );
});
