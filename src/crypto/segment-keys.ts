import { createHmac, timingSafeEqual } from 'node:crypto';
import { decryptionFailed, UnwrapdError } from '../errors.js';
import { hkdfSha256 } from './hkdf.js';
import { COMMITMENT_LENGTH } from './envelope-format.js';
import { HEADER_TAG_LENGTH, MAX_SEGMENTS, SEGMENTED_VERSION_1, type SegmentedHeader } from './segmented-format.js';

/**
 * The keys of one stream and the authentication of its header (docs/envelope-format.md §8.2):
 *
 *   v1: OKM = HKDF-SHA256(ikm = DK, salt = nonce, info = "unwrapd/v1 segment keys", L = 64)
 *       contentKey = OKM[0,32)  commitment = OKM[32,64)
 *   v2: OKM = HKDF-SHA256(ikm = DK, salt = nonce, info = "unwrapd/v2 segment keys" || F', L = 96)
 *       where F' = the fixed header without its commitment (magic .. nonce, a prefix of the header in v2)
 *       contentKey = OKM[0,32)  commitment = OKM[32,64)  headerKey = OKM[64,96)
 *       headerTag  = HMAC-SHA256(headerKey, header without its last 32 bytes)   (fixed header || wrap section)
 *
 * In v2, any change to a fixed-header field (version, flags, tenant, segment size, nonce) changes the derived
 * commitment, and any change to the wrap section changes the header tag: the reader checks both, in constant
 * time, right after unwrapping the data key, before it reads any segment or sizes any buffer. The wrap
 * section is not in the derivation because Rewrap replaces it without re-encrypting the segments; Rewrap
 * holds the data key, so it writes a fresh header tag.
 */

const V1_INFO = Buffer.from('unwrapd/v1 segment keys', 'latin1');
const V2_INFO_PREFIX = Buffer.from('unwrapd/v2 segment keys', 'latin1');
export const CONTENT_KEY_LENGTH = 32;
const HEADER_KEY_LENGTH = 32;

/** HKDF info of a v2 header: the label, then every fixed-header byte before the commitment. */
export function segmentKeysInfo(header: Pick<SegmentedHeader, 'version' | 'fixedHeader'>): Buffer {
  if (header.version === SEGMENTED_VERSION_1) return V1_INFO;
  return Buffer.concat([V2_INFO_PREFIX, header.fixedHeader.subarray(0, header.fixedHeader.length - COMMITMENT_LENGTH)]);
}

/**
 * The stream's derived keys for `header` (v1: 64 bytes, v2: 96 bytes; layout above). Through src/crypto/hkdf.ts,
 * never hkdfSync (whose KeyObject would keep the data key until GC). The caller zeroizes the result.
 */
export function deriveSegmentKeys(
  dataKey: Uint8Array,
  header: Pick<SegmentedHeader, 'version' | 'fixedHeader' | 'nonce'>,
): Buffer {
  const length =
    CONTENT_KEY_LENGTH + COMMITMENT_LENGTH + (header.version === SEGMENTED_VERSION_1 ? 0 : HEADER_KEY_LENGTH);
  return hkdfSha256(dataKey, header.nonce, segmentKeysInfo(header), length);
}

function commitmentOf(keys: Buffer): Buffer {
  return keys.subarray(CONTENT_KEY_LENGTH, CONTENT_KEY_LENGTH + COMMITMENT_LENGTH);
}

/** v2: HMAC-SHA256(headerKey, header bytes before the tag). */
function headerTagOf(keys: Buffer, header: Pick<SegmentedHeader, 'bytes'>): Buffer {
  const key = keys.subarray(CONTENT_KEY_LENGTH + COMMITMENT_LENGTH);
  return createHmac('sha256', key)
    .update(header.bytes.subarray(0, header.bytes.length - HEADER_TAG_LENGTH))
    .digest();
}

/**
 * Writes the commitment (and in v2 the header tag) into a header laid out by layoutSegmentedHeader, through
 * its parsed views. `keys` must be deriveSegmentKeys(dataKey, header).
 */
export function completeHeader(keys: Buffer, header: SegmentedHeader): void {
  commitmentOf(keys).copy(header.commitment);
  if (header.version !== SEGMENTED_VERSION_1) headerTagOf(keys, header).copy(header.headerTag);
}

/**
 * The header check after the data key was unwrapped: the commitment (v1, v2) and the header tag (v2), both
 * compared in constant time and both always computed, then one decision. Throws the generic failure.
 */
export function verifyHeader(keys: Buffer, header: SegmentedHeader): void {
  const commitmentOk =
    header.commitment.length === COMMITMENT_LENGTH && timingSafeEqual(commitmentOf(keys), header.commitment);
  let tagOk = true;
  if (header.version !== SEGMENTED_VERSION_1) {
    const tag = headerTagOf(keys, header);
    tagOk = header.headerTag.length === HEADER_TAG_LENGTH && timingSafeEqual(tag, header.headerTag);
  }
  if (!(commitmentOk && tagOk)) throw decryptionFailed();
}

/** The GCM nonce of segment `index`: the header nonce with the index and the last-segment flag XORed into its last 5 bytes. */
export function segmentNonce(nonce: Uint8Array, index: number, last: boolean): Buffer {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SEGMENTS)
    throw new UnwrapdError('internal', 'segment index out of range');
  const iv = Buffer.from(nonce);
  iv[7] = (iv[7] as number) ^ ((index >>> 24) & 0xff);
  iv[8] = (iv[8] as number) ^ ((index >>> 16) & 0xff);
  iv[9] = (iv[9] as number) ^ ((index >>> 8) & 0xff);
  iv[10] = (iv[10] as number) ^ (index & 0xff);
  iv[11] = (iv[11] as number) ^ (last ? 1 : 0);
  return iv;
}
