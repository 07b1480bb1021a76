import { decryptionFailed, invalidArgument } from '../errors.js';
import {
  COMMITMENT_LENGTH,
  FIXED_HEADER_BASE_LENGTH,
  FLAG_SEGMENTED,
  FORMAT_VERSION_1,
  MAGIC_0,
  MAGIC_1,
  MAX_ID_LENGTH,
  MIN_ID_LENGTH,
  MIN_KEY_VERSION,
  NONCE_LENGTH,
  SUITE_AES256GCM_HKDF_KWP,
  TAG_LENGTH,
  WRAP_SECTION_BASE_LENGTH,
  WRAPPED_KEY_LENGTH,
  validateRef,
  writeWrapSection,
  type EnvelopeRef,
} from './envelope-format.js';

/**
 * The segmented (stream) envelope, format v1 with flags bit 0 set: one header, then segments. Byte layout,
 * constants, header serializer and an incremental, strict header parser; no cryptography here (see
 * segmented.ts). The authoritative description is docs/envelope-format.md, "Segmented envelopes".
 *
 *   offset  size  field
 *   0       2     magic 0x55 0x57 ("UW")
 *   2       1     format version 0x01
 *   3       1     suite 0x01
 *   4       1     flags 0x01 (FLAG_SEGMENTED; any other bit is rejected)
 *   5       1     tenantLen (1..64), then tenant
 *   .       12    nonce (random; HKDF salt, and the base of every segment's GCM nonce)
 *   .       32    commitment
 *   .       4     segmentSize, u32 BE: plaintext bytes of every non-final segment (1 KiB .. 4 MiB)
 *   ---- end of the fixed header (every segment's AAD = fixed header || encoded context) ----
 *   .       1     policyLen (1..64), then policy id
 *   .       4     key version, u32 BE, >= 1
 *   .       2     wrappedLen, u16 BE, = 40, then the wrapped data key
 *   ---- end of the header (wrap section as in the single-block format) ----
 *   segment 0 .. n-1, each ciphertext || 16-byte tag:
 *     non-final: exactly segmentSize + 16 bytes; final: 16 .. segmentSize + 15 bytes (plaintext 0..segmentSize-1)
 */

export const SEGMENT_SIZE_LENGTH = 4;
/** Fixed header of a segmented envelope = single-block fixed header + segmentSize. */
export const SEGMENTED_FIXED_HEADER_BASE_LENGTH = FIXED_HEADER_BASE_LENGTH + SEGMENT_SIZE_LENGTH; // 54
export const MIN_SEGMENT_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 4 * 1024 * 1024;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024;
/** Segment indexes are u32: at most 2^32 segments per stream (one data key). */
export const MAX_SEGMENTS = 2 ** 32;
/** Plaintext bytes one stream (one data key, one content key) may carry: 2^48 (256 TiB); docs §5. */
export const MAX_STREAM_PLAINTEXT_BYTES = 2 ** 48;
export const MIN_SEGMENTED_HEADER_LENGTH = SEGMENTED_FIXED_HEADER_BASE_LENGTH + MIN_ID_LENGTH + WRAP_SECTION_BASE_LENGTH + MIN_ID_LENGTH; // 103
export const MAX_SEGMENTED_HEADER_LENGTH = SEGMENTED_FIXED_HEADER_BASE_LENGTH + MAX_ID_LENGTH + WRAP_SECTION_BASE_LENGTH + MAX_ID_LENGTH; // 229
/** The smallest segmented envelope: shortest header and one empty final segment (its tag). */
export const MIN_SEGMENTED_ENVELOPE_LENGTH = MIN_SEGMENTED_HEADER_LENGTH + TAG_LENGTH; // 119
/** Bytes of the prefix that tell a segmented envelope from a single-block one (magic .. flags). */
export const FORMAT_PREFIX_LENGTH = 5;

export interface SegmentedHeader extends EnvelopeRef {
  readonly tenant: string;
  readonly policyId: string;
  readonly keyVersion: number;
  /** The whole header (fixed header || wrap section). */
  readonly bytes: Buffer;
  /** magic .. segmentSize: the first part of every segment's AAD. */
  readonly fixedHeader: Buffer;
  readonly nonce: Buffer;
  readonly commitment: Buffer;
  readonly segmentSize: number;
  readonly wrapSection: Buffer;
  readonly wrappedKey: Buffer;
}

export function isValidSegmentSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= MIN_SEGMENT_BYTES && n <= MAX_SEGMENT_BYTES;
}

export function requireSegmentSize(n: number): number {
  if (!isValidSegmentSize(n)) throw invalidArgument(`segment size must be an integer from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES} bytes`);
  return n;
}

/**
 * Which format the first bytes of an envelope announce: `segmented` (flags bit 0), `block` (flags 0), or
 * `unknown` (too short, or not a v1 envelope; opening it will fail with the generic error).
 */
export function envelopeKind(prefix: Uint8Array): 'block' | 'segmented' | 'unknown' {
  if (prefix.length < FORMAT_PREFIX_LENGTH) return 'unknown';
  if (prefix[0] !== MAGIC_0 || prefix[1] !== MAGIC_1 || prefix[2] !== FORMAT_VERSION_1 || prefix[3] !== SUITE_AES256GCM_HKDF_KWP) return 'unknown';
  if (prefix[4] === FLAG_SEGMENTED) return 'segmented';
  if (prefix[4] === 0) return 'block';
  return 'unknown';
}

export function segmentedHeaderLength(ref: EnvelopeRef): number {
  return SEGMENTED_FIXED_HEADER_BASE_LENGTH + ref.tenant.length + WRAP_SECTION_BASE_LENGTH + ref.policyId.length;
}

/** Serializes a header. The commitment is written by the caller at `fixedHeaderEnd - 36` or passed here. */
export function writeSegmentedHeader(ref: EnvelopeRef, nonce: Uint8Array, commitment: Uint8Array, segmentSize: number, wrappedKey: Uint8Array): Buffer {
  validateRef(ref);
  requireSegmentSize(segmentSize);
  if (nonce.length !== NONCE_LENGTH || commitment.length !== COMMITMENT_LENGTH) throw new Error('nonce or commitment of the wrong length');
  const out = Buffer.allocUnsafe(segmentedHeaderLength(ref));
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = FORMAT_VERSION_1;
  out[3] = SUITE_AES256GCM_HKDF_KWP;
  out[4] = FLAG_SEGMENTED;
  out[5] = ref.tenant.length;
  let off = 6 + out.write(ref.tenant, 6, 'latin1');
  out.set(nonce, off);
  off += NONCE_LENGTH;
  out.set(commitment, off);
  off += COMMITMENT_LENGTH;
  out.writeUInt32BE(segmentSize, off);
  off += SEGMENT_SIZE_LENGTH;
  writeWrapSection(out, off, ref.policyId, ref.keyVersion, wrappedKey);
  return out;
}

/** Same as envelope-format's id check, on bytes. */
function isIdBytes(buf: Buffer, start: number, len: number): boolean {
  if (len < MIN_ID_LENGTH || len > MAX_ID_LENGTH) return false;
  for (let i = start; i < start + len; i++) {
    const c = buf[i] as number;
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (alnum) continue;
    if (i > start && (c === 0x2e || c === 0x5f || c === 0x2d)) continue;
    return false;
  }
  return true;
}

/**
 * Strict, incremental parse of a segmented header from the first bytes of an envelope. Returns `undefined`
 * while `bytes` is too short to hold the whole header (feed more and call again); throws the one generic
 * decryptionFailed() as soon as the bytes seen so far cannot begin a valid header (checks run on what is
 * available, so garbage is rejected early, not after buffering). Returns views into `bytes`, no copies.
 */
export function parseSegmentedHeader(bytes: Uint8Array): SegmentedHeader | undefined {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = buf.length;
  const expect = [MAGIC_0, MAGIC_1, FORMAT_VERSION_1, SUITE_AES256GCM_HKDF_KWP, FLAG_SEGMENTED];
  for (let i = 0; i < expect.length && i < len; i++) if (buf[i] !== expect[i]) throw decryptionFailed();
  if (len < 6) return undefined;
  const tenantLen = buf[5] as number;
  if (tenantLen < MIN_ID_LENGTH || tenantLen > MAX_ID_LENGTH) throw decryptionFailed();
  const fixedEnd = SEGMENTED_FIXED_HEADER_BASE_LENGTH + tenantLen;
  if (len < fixedEnd + 1) return undefined;
  if (!isIdBytes(buf, 6, tenantLen)) throw decryptionFailed();
  let off = 6 + tenantLen;
  const nonce = buf.subarray(off, off + NONCE_LENGTH);
  off += NONCE_LENGTH;
  const commitment = buf.subarray(off, off + COMMITMENT_LENGTH);
  off += COMMITMENT_LENGTH;
  const segmentSize = buf.readUInt32BE(off);
  off += SEGMENT_SIZE_LENGTH;
  if (!isValidSegmentSize(segmentSize)) throw decryptionFailed();
  const policyLen = buf[off] as number;
  if (policyLen < MIN_ID_LENGTH || policyLen > MAX_ID_LENGTH) throw decryptionFailed();
  const end = fixedEnd + WRAP_SECTION_BASE_LENGTH + policyLen;
  if (len < end) return undefined;
  off += 1;
  if (!isIdBytes(buf, off, policyLen)) throw decryptionFailed();
  const policyId = buf.toString('latin1', off, off + policyLen);
  off += policyLen;
  const keyVersion = buf.readUInt32BE(off);
  off += 4;
  if (keyVersion < MIN_KEY_VERSION) throw decryptionFailed();
  if (buf.readUInt16BE(off) !== WRAPPED_KEY_LENGTH) throw decryptionFailed();
  off += 2;
  const wrappedKey = buf.subarray(off, off + WRAPPED_KEY_LENGTH);
  return {
    tenant: buf.toString('latin1', 6, 6 + tenantLen),
    policyId,
    keyVersion,
    bytes: buf.subarray(0, end),
    fixedHeader: buf.subarray(0, fixedEnd),
    nonce,
    commitment,
    segmentSize,
    wrapSection: buf.subarray(fixedEnd, end),
    wrappedKey,
  };
}

/** Length of the segmented envelope of `plaintextLength` bytes: header + plaintext + one tag per segment. */
export function segmentedEnvelopeLength(ref: EnvelopeRef, segmentSize: number, plaintextLength: number): number {
  return segmentedHeaderLength(ref) + plaintextLength + segmentCount(segmentSize, plaintextLength) * TAG_LENGTH;
}

/** Segments of a stream of `plaintextLength` bytes: the final one is always shorter than a full segment. */
export function segmentCount(segmentSize: number, plaintextLength: number): number {
  return Math.floor(plaintextLength / segmentSize) + 1;
}
