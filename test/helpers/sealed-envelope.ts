import type { EnvelopeRef } from '../../src/crypto/envelope.js';
import { SegmentSealer } from '../../src/crypto/segment-sealer.js';
import type { TestDaemon } from './test-daemon.js';

/**
 * A segmented envelope of `content` in segments of `segmentSize`, sealed with the daemon's own key for `ref`
 * (taken through its key leases, as EncryptStream does): for envelopes the daemon reads but does not write
 * itself, such as segments larger than its streamSegmentBytes.
 */
export function sealSegmented(d: TestDaemon, ref: EnvelopeRef, content: Buffer, segmentSize: number): Promise<Buffer> {
  const req = { tenant: ref.tenant, purpose: 'user' as const, requestId: '', signal: new AbortController().signal };
  return d.daemon.crypto.leases.withKey(
    ref,
    'write',
    req,
    (kek) => {
      const sealer = new SegmentSealer({ ref, kek, context: {}, segmentSize });
      const parts = [sealer.header, ...sealer.push(content), sealer.final()];
      sealer.destroy();
      return Buffer.concat(parts);
    },
    0,
  );
}
