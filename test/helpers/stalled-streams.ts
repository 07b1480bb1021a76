import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../src/rpc/proto.js';
import { STREAM_MAX_CHUNK_BYTES } from '../../src/server/request-limits.js';
import type { ChildStats, DaemonProcess } from './daemon-process.js';

const MiB = 1024 * 1024;

export interface StalledStreamsResult {
  /** The daemon's Buffers over its count before the streams, when they had settled and at their peak. */
  grown: number;
  peak: number;
  /** The daemon's stream counters once settled (streams open, bytes charged to the budget). */
  streams: ChildStats['streams'];
}

/**
 * `count` clients each open an EncryptStream to the daemon child `p`, send a header and 160 chunks of the
 * per-message cap, and never read the responses. Polls the daemon's memory (each sample runs two full GCs in
 * it) until it has settled, at least `minSamples` samples and then 5 in a row within a quarter MiB (and, with
 * `minGrowth`, only once it has grown by that much), then cancels the streams and closes the clients.
 */
export async function stallEncryptStreams(
  p: DaemonProcess,
  count: number,
  opts: { minSamples?: number; minGrowth?: number } = {},
): Promise<StalledStreamsResult> {
  const { minSamples = 0, minGrowth = 0 } = opts;
  const { proto } = loadProto();
  const Crypto = proto.unwrapd.v1.Crypto as unknown as grpc.ServiceClientConstructor;
  const clients = Array.from({ length: count }, () => new Crypto(p.address, grpc.credentials.createInsecure()));
  try {
    const base = (await p.stats()).memory.arrayBuffers;
    const chunk = Buffer.alloc(STREAM_MAX_CHUNK_BYTES, 7);
    const calls = clients.map((c) => {
      const call = (c as unknown as { EncryptStream(): grpc.ClientDuplexStream<object, object> }).EncryptStream();
      call.on('error', () => {});
      call.write({ header: { tenant: 'demo', policyId: 'demo-mailbox' } });
      for (let i = 0; i < 160; i++) call.write({ chunk }); // and never read the responses
      return call;
    });
    let last = 0;
    let stable = 0;
    let grown = 0;
    let peak = 0;
    for (let i = 0; i < 200 && (i < minSamples || stable < 5); i++) {
      grown = (await p.stats()).memory.arrayBuffers - base;
      peak = Math.max(peak, grown);
      stable = grown >= minGrowth && Math.abs(grown - last) < MiB / 4 ? stable + 1 : 0;
      last = grown;
      await new Promise((r) => setTimeout(r, 50)); // poll interval only
    }
    const streams = (await p.stats({ gc: 'young' })).streams; // counters: no full GC needed
    for (const c of calls) c.cancel();
    return { grown, peak, streams };
  } finally {
    for (const c of clients) c.close();
  }
}
