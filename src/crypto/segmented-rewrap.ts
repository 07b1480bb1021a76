import { timingSafeEqual } from 'node:crypto';
import { decryptionFailed, invalidArgument } from '../errors.js';
import { kwpUnwrap, kwpWrap } from './aes-kwp.js';
import { COMMITMENT_LENGTH, DATA_KEY_LENGTH, type EnvelopeRef } from './envelope-format.js';
import type { SecretKey } from './secret-key.js';
import { deriveSegmentKeys } from './segmented.js';
import { parseSegmentedHeader, writeSegmentedHeader, type SegmentedHeader } from './segmented-format.js';

/** The header of a segmented envelope, from its first bytes (at least the whole header). */
export function parseSegmentedPrefix(bytes: Uint8Array): SegmentedHeader {
  const header = parseSegmentedHeader(bytes);
  if (!header) throw decryptionFailed(); // shorter than its own header
  return header;
}

/**
 * Moves a segmented envelope to another policy or version by rewriting its header only: the data key is
 * unwrapped with `fromKek`, checked against the header's key commitment, and wrapped with `to.kek`. The
 * segments' AAD covers the fixed header (which does not change) and not the wrap section, so they stay valid
 * unchanged: whatever followed the header in `bytes` is appended as it was. Returns the new bytes and the
 * length of the header they replace (storage replaces that many leading bytes).
 */
export function rewrapSegmentedHeader(
  bytes: Uint8Array,
  header: SegmentedHeader,
  fromKek: SecretKey,
  to: { ref: EnvelopeRef; kek: SecretKey },
): { envelope: Buffer; replacedHeaderBytes: number } {
  if (to.ref.tenant !== header.tenant) throw invalidArgument('rewrap cannot move content to another tenant');
  const dataKey = kwpUnwrap(fromKek, header.wrappedKey);
  let keys: Buffer | undefined;
  try {
    if (dataKey.length !== DATA_KEY_LENGTH) throw decryptionFailed();
    keys = deriveSegmentKeys(dataKey, header.nonce);
    const commitment = keys.subarray(keys.length - COMMITMENT_LENGTH);
    if (!timingSafeEqual(commitment, header.commitment)) throw decryptionFailed();
    const fresh = writeSegmentedHeader(to.ref, header.nonce, header.commitment, header.segmentSize, kwpWrap(to.kek, dataKey));
    const src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { envelope: Buffer.concat([fresh, src.subarray(header.bytes.length)]), replacedHeaderBytes: header.bytes.length };
  } finally {
    dataKey.fill(0);
    keys?.fill(0);
  }
}
