import test from 'ava';
import { UnwrapdClient } from '../src/client/client.js';
import { DEFAULT_SEGMENT_BYTES } from '../src/crypto/segmented-format.js';
import { startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';

// The daemon runs in its own process, so its memory is measured alone (after a full GC each time).
let p: DaemonProcess;
let client: UnwrapdClient;
test.before(async () => {
  p = await startDaemonProcess();
  client = new UnwrapdClient(p.address);
});
test.after.always(async () => {
  client?.close();
  await p?.stop();
});

const MiB = 1024 * 1024;
const SEG = DEFAULT_SEGMENT_BYTES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

test('a slow reader keeps the server memory bounded: 48 MiB through EncryptStream, the server holds a few segments', async (t) => {
  // Three times the largest bound asserted below (16 MiB): a server that held the stream, or a client that kept
  // sending through the stall, would be over every bound by far.
  const total = 48 * MiB;
  const base = await p.stats();
  const block = Buffer.alloc(SEG, 1);
  async function* source() {
    for (let off = 0; off < total; off += SEG) yield block;
  }
  const stream = client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, source());

  // Sample the daemon's memory (arrayBuffers: Buffers live after a GC) while the stream runs. Each sample is a
  // bound from above on the live Buffers: what is left after collecting the young generation (old garbage still
  // counted), or, when that is over CHEAP_BELOW, what is left after a full GC (which costs the daemon about 100
  // times as much, and stops it that long). Every bound asserted below is over CHEAP_BELOW, so a sample that
  // passes would pass as a full GC's, and one over it is a full GC's.
  const CHEAP_BELOW = 4 * MiB;
  let fullSamples = 0;
  const sample = async () => {
    const young = (await p.stats({ gc: 'young' })).memory.arrayBuffers - base.memory.arrayBuffers;
    if (young < CHEAP_BELOW) return young;
    fullSamples++;
    return (await p.stats()).memory.arrayBuffers - base.memory.arrayBuffers;
  };
  const samples: number[] = [];
  const stallSamples: number[] = [];
  let phase = 'flow' as 'stall' | 'flow' | 'done';
  const sampler = (async () => {
    while (phase !== 'done') {
      const s = await sample();
      (phase === 'stall' ? stallSamples : samples).push(s);
      await sleep(50);
    }
  })();

  let received = 0;
  let messages = 0;
  let sentDuringStall = 0;
  const started = performance.now();
  for await (const b of stream) {
    received += b.length;
    messages++;
    if (messages === 2) {
      // Stop reading for 1.5 s: the server must stop too, and so must the client's sending.
      phase = 'stall';
      const sentBefore = stream.bytesSent;
      await sleep(1_500);
      sentDuringStall = stream.bytesSent - sentBefore;
      phase = 'flow';
    }
    // Then read slowly: a 20 ms pause every 4 MiB.
    if (messages % 64 === 0) await sleep(20);
  }
  phase = 'done';
  await sampler;
  const after = await p.stats();

  t.is(stream.bytesSent, total);
  t.true(received > total);
  const stall = Math.max(...stallSamples);
  t.log(
    `${total / MiB} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s; client sent ${(stream.bytesSent / MiB).toFixed(0)} MiB`,
  );
  t.log(
    `during the 1.5 s stall: client could send ${(sentDuringStall / MiB).toFixed(1)} MiB; server +${(stall / MiB).toFixed(1)} MiB (max of ${stallSamples.length} samples)`,
  );
  t.log(
    `while flowing: server +${(median(samples) / MiB).toFixed(1)} MiB median, +${(Math.max(...samples) / MiB).toFixed(1)} MiB max (${samples.length} samples; ${fullSamples} of all after a full GC)`,
  );
  t.log(
    `server counters: peak response bytes not yet sent ${after.streams.peakPendingWriteBytes} (bound ${4 * (SEG + 64)} + one segment)`,
  );

  // Backpressure reached the client: while nothing was read, it could send only a few MiB (HTTP/2 windows,
  // grpc-js read-ahead), not the file.
  t.true(sentDuringStall < 16 * MiB, `client kept sending during the stall: ${sentDuringStall}`);
  // The server held a few segments, not the 48 MiB.
  t.true(stall < 8 * MiB, `server memory during the stall: +${stall}`);
  t.true(median(samples) < 8 * MiB, `server memory while flowing (median): +${median(samples)}`);
  t.true(Math.max(...samples) < 16 * MiB, `server memory while flowing (max): +${Math.max(...samples)}`);
  // And it does not grow with what went through: a server keeping a sixth of each segment ends 8 MiB up, under
  // the bounds above at 48 MiB, but holds 6 MiB more in the last quarter of the flow than in the first (the same
  // fraction the bounds above caught at 96 MiB). A sample is at most 4 MiB above what is live (CHEAP_BELOW), so a
  // server holding a few segments passes.
  const quarter = Math.floor(samples.length / 4);
  t.true(quarter >= 2, `${samples.length} samples while flowing`);
  const growth = median(samples.slice(-quarter)) - median(samples.slice(0, quarter));
  t.true(growth < 6 * MiB, `server memory grew while flowing: +${growth} from the first quarter to the last`);
  t.true(after.streams.peakPendingWriteBytes <= 4 * (SEG + 64) + SEG + 16);
  t.is(after.streams.open, 0);
  t.is(after.streams.liveKeys, 0);
  t.is(after.streams.inFlightBytes, 0);
});
