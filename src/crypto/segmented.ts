import { decryptionFailed } from '../errors.js';
import type { EncryptionContext } from './encryption-context.js';
import type { EnvelopeRef } from './envelope-format.js';
import { SegmentOpener, type SegmentOpenerParams } from './segment-opener.js';
import { SegmentSealer, type SegmentSealerParams } from './segment-sealer.js';
import type { SecretKey } from './secret-key.js';

/**
 * Segmented (stream) envelopes, one segment at a time, in bounded memory. Layout: segmented-format.ts; keys
 * and header authentication: segment-keys.ts; per-segment GCM: segment-cipher.ts; streaming sealer and opener:
 * segment-sealer.ts, segment-opener.ts. Spec: docs/envelope-format.md, "Segmented envelopes".
 *
 *   DK  = 32 random bytes, one stream only;  nonce = 12 random bytes
 *   keys = HKDF-SHA256(DK, salt = nonce, info = label (|| fixed header without commitment, v2))
 *   wrapped DK = AES-KWP(KEK, DK)                    (KEK as for single blocks)
 *   iv_i = nonce XOR (0x00 * 7 || u32be(i) || u8(last ? 1 : 0))
 *   segment_i = AES-256-GCM(contentKey, iv_i, AAD = fixedHeader || encodeContext(context), plaintext_i)
 *
 * Every non-final segment carries exactly segmentSize plaintext bytes; the final one carries fewer (0 ..
 * segmentSize-1), so a reader never needs to look ahead: a full segment is never the last. Reordering,
 * duplication or dropping a segment changes the index its nonce was made with; truncation at a segment
 * boundary leaves no final segment; cutting a segment short or appending bytes breaks a tag.
 */

export { SegmentOpener, type SegmentOpenerParams } from './segment-opener.js';
export { SegmentSealer, type SegmentCheck, type SegmentSealerParams } from './segment-sealer.js';
export { deriveSegmentKeys, segmentKeysInfo, segmentNonce } from './segment-keys.js';

/** Whole-buffer seal (test vectors, tests, small tools): header || segments. */
export function sealSegmented(p: SegmentSealerParams & { plaintext: Uint8Array }): Buffer {
  const sealer = new SegmentSealer(p);
  try {
    const parts = [sealer.header, ...sealer.push(p.plaintext), sealer.final()];
    return Buffer.concat(parts);
  } finally {
    sealer.destroy();
  }
}

/**
 * Whole-buffer open: `kekFor` gives the KEK for the ref found in the header (the caller owns and destroys it).
 * `options.maxSegmentBytes` caps the segment size as SegmentOpener does.
 */
export function openSegmented(
  envelope: Uint8Array,
  kekFor: (ref: EnvelopeRef) => SecretKey,
  context: EncryptionContext,
  options: Pick<SegmentOpenerParams, 'maxSegmentBytes'> = {},
): Buffer {
  const opener = new SegmentOpener({ context, ...options });
  try {
    const read = opener.readHeader(envelope);
    if (!read) throw decryptionFailed();
    opener.unlock(kekFor(read.header));
    const parts = [...opener.push(read.rest), opener.final()];
    return Buffer.concat(parts);
  } finally {
    opener.destroy();
  }
}
