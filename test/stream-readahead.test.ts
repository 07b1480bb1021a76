import test from 'ava';
import { startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';
import { stallEncryptStreams } from './helpers/stalled-streams.js';

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
  const { grown, peak, streams } = await stallEncryptStreams(p, STREAMS, { minGrowth: MiB });
  t.log(
    `${STREAMS} stalled EncryptStreams: daemon Buffers +${(grown / MiB).toFixed(1)} MiB (peak +${(peak / MiB).toFixed(1)}); charged ${(streams.inFlightBytes / MiB).toFixed(1)} MiB; budget ${BUDGET / MiB} MiB; ${streams.open} open`,
  );
  t.true(
    peak < BUDGET + STREAMS * 256 * 1024,
    `daemon held +${(peak / MiB).toFixed(1)} MiB for a ${BUDGET / MiB} MiB budget`,
  );
});
