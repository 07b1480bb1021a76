import test from 'ava';
import { UnwrapdClient } from '../src/client/client.js';
import { startDaemonProcess } from './helpers/daemon-process.js';
import { rssOf } from './helpers/raw-grpc.js';

const MiB = 1024 * 1024;

// Idle streams must cost little. With 4 MiB segments, a DecryptStream that sent its envelope header and a
// few bytes of the first segment, then went quiet, used to hold a whole segment-sized buffer (4 MiB each,
// allocated up front from the header's segment size). The partial segment now grows with the bytes that came.
test('40 idle DecryptStreams of 4 MiB-segment envelopes cost little daemon memory', async (t) => {
  const N = 40;
  const p = await startDaemonProcess({
    streamSegmentBytes: 4 * MiB,
    streamMaxSegmentBytes: 4 * MiB,
    streamIdleTimeoutMs: 0,
  });
  const client = new UnwrapdClient(p.address);
  t.teardown(async () => {
    client.close();
    await p.stop();
  });
  const parts: Buffer[] = [];
  for await (const b of client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, [
    Buffer.alloc(4 * MiB + 5000, 7),
  ]))
    parts.push(b);
  const envelope = Buffer.concat(parts);
  // Warm the daemon's allocator with full-size segments first, as a daemon that has served streams has.
  for (let i = 0; i < 3; i++) for await (const b of client.decryptStream({ tenant: 'demo' }, [envelope])) void b;

  const before = await p.stats();
  const rss0 = await rssOf(p.pid);
  const stop = new AbortController();
  const gate = new Promise<void>((r) => stop.signal.addEventListener('abort', () => r()));
  const runs = [];
  for (let i = 0; i < N; i++) {
    async function* idle() {
      yield envelope.subarray(0, 300 + 1024); // the header and 1 KiB of the first segment, then nothing
      await gate;
    }
    runs.push(
      (async () => {
        try {
          for await (const b of client.decryptStream({ tenant: 'demo' }, idle(), { signal: stop.signal })) void b;
        } catch {
          // cancelled below
        }
      })(),
    );
  }
  let after = await p.stats();
  const end = Date.now() + 30_000;
  while ((after.streams.liveKeys < N || after.streams.inFlightBytes < N * 1024) && Date.now() < end)
    after = await p.stats();
  const rss1 = await rssOf(p.pid);
  const buffers = after.memory.arrayBuffers - before.memory.arrayBuffers;
  t.log(
    `${N} idle streams: arrayBuffers +${(buffers / MiB).toFixed(2)} MiB, RSS ${(rss0 / MiB).toFixed(0)} -> ${(rss1 / MiB).toFixed(0)} MiB (+${((rss1 - rss0) / MiB).toFixed(1)}), held ${after.streams.inFlightBytes} bytes`,
  );
  t.is(after.streams.liveKeys, N);
  // Before the fix: +160 MiB of buffers (a 4 MiB segment each). Now: a few KiB each.
  t.true(buffers < 4 * MiB, `idle streams hold ${buffers} bytes of buffers`);
  t.true(rss1 - rss0 < 32 * MiB, `RSS grew ${rss1 - rss0}`);
  stop.abort();
  await Promise.all(runs);
});
