import { createCipheriv, randomBytes } from 'node:crypto';
import { SegmentOpener, SegmentSealer } from '../../src/crypto/segmented.js';
import { SecretKey } from '../../src/crypto/secret-key.js';
import { sealBlock } from '../../src/crypto/envelope.js';
import { timeLoop, type InProcessResult } from './in-process.js';

/**
 * In-process baselines of the throughput section, one thread, no gRPC: the machine's AES-256-GCM over a
 * stream in segments, unwrapd's own segment sealer and opener over the same bytes, and sealBlock of one
 * batch item: the floors the stream and batch rows are to be read against.
 */

export interface StreamInProcess {
  name: string;
  mibPerSec: number;
}

const MiB = 1024 * 1024;

function time(name: string, bytes: number, fn: () => void): StreamInProcess {
  fn(); // warm
  const t0 = process.hrtime.bigint();
  fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { name, mibPerSec: bytes / MiB / s };
}

/** Raw AES-256-GCM and unwrapd's SegmentSealer / SegmentOpener over `bytes` in `segment`-sized pieces. */
export function streamInProcess(bytes: number, segment: number): StreamInProcess[] {
  const plain = Buffer.alloc(segment, 0x5a);
  const key = randomBytes(32);
  const iv = Buffer.alloc(12);
  const raw = time(`raw AES-256-GCM, ${segment / 1024} KiB segments`, bytes, () => {
    for (let off = 0, i = 0; off < bytes; off += segment, i++) {
      iv.writeUInt32BE(i, 8);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.update(plain);
      c.final();
      c.getAuthTag();
    }
  });
  const kek = SecretKey.copyFrom(randomBytes(32), true);
  const ref = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
  try {
    const sealAll = (keep: boolean): Buffer[] => {
      const sealer = new SegmentSealer({ ref, kek, context: {}, segmentSize: 64 * 1024 });
      const out = [sealer.header];
      for (let off = 0; off < bytes; off += segment) for (const s of sealer.push(plain)) if (keep) out.push(s);
      out.push(sealer.final());
      sealer.destroy();
      return out;
    };
    // Timed without keeping the output (as a server does: each segment is sent and dropped).
    const seal = time('unwrapd SegmentSealer (64 KiB segments)', bytes, () => void sealAll(false));
    const envelope = sealAll(true);
    const open = time('unwrapd SegmentOpener (64 KiB segments)', bytes, () => {
      const opener = new SegmentOpener({ context: {} });
      const read = opener.readHeader(envelope[0]!)!;
      opener.unlock(kek);
      for (const _ of opener.push(read.rest));
      for (let i = 1; i < envelope.length; i++) for (const _ of opener.push(envelope[i]!));
      opener.final();
      opener.destroy();
    });
    return [raw, seal, open];
  } finally {
    kek.destroy();
  }
}

/** sealBlock of one item (a cached key in hand): the most items per second one thread can seal. */
export function batchItemInProcess(itemBytes: number, durationMs: number): InProcessResult {
  const kek = SecretKey.copyFrom(randomBytes(32), true);
  const item = Buffer.alloc(itemBytes, 1);
  try {
    return timeLoop(
      `unwrapd sealBlock of one ${itemBytes} B item`,
      () =>
        sealBlock({
          ref: { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 },
          kek,
          plaintext: item,
          context: {},
        }),
      durationMs,
    );
  } finally {
    kek.destroy();
  }
}
