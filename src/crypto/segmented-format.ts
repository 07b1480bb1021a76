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
  isBlockSuite,
  SUITE_AES256GCM_HKDF_KWP,
  TAG_LENGTH,
  WRAP_SECTION_BASE_LENGTH,
  WRAPPED_KEY_LENGTH,
  validateRef,
  writeWrapSection,
  type EnvelopeRef,
} from './envelope-format.js';

/**
 * The segmented (stream) envelope: one header, then segments. Byte layout, constants, the header serializer
 * and a strict, incremental header parser; no cryptography here (see segment-keys.ts). The authoritative description is docs/envelope-format.md, "Segmented envelopes".
 * Two versions share suite 0x01 and flags 0x01; EncryptStream writes v2, a reader reads both.
 *
 *   v1 (read only)                                   v2 (written)
 *   offset  size  field                              offset  size  field
 *   0       2     magic 0x55 0x57                    0       2     magic 0x55 0x57
 *   2       1     version 0x01                       2       1     version 0x02
 *   3       1     suite 0x01                         3       1     suite 0x01
 *   4       1     flags 0x01                         4       1     flags 0x01
 *   5       1     tenantLen t, then tenant           5       1     tenantLen t, then tenant
 *   6+t     12    nonce                              6+t     4     segmentSize, u32 BE
 *   18+t    32    commitment                         10+t    12    nonce
 *   50+t    4     segmentSize, u32 BE                22+t    32    commitment
 *   ---- 54+t: end of the fixed header F (every segment's AAD = fixed header || encoded context) ----
 *   F       47+p  wrap section (policyLen, policy, key version, wrappedLen = 40, wrapped data key), both
 *   v2 only: F+47+p  32  header tag: HMAC-SHA256 over every header byte before it
 *   ---- end of the header: v1 H = 101+t+p, v2 H = 133+t+p ----
 *   segment 0 .. n-1, each ciphertext || 16-byte tag:
 *     non-final: exactly segmentSize + 16 bytes; final: 16 .. segmentSize + 15 bytes (plaintext 0..segmentSize-1)
 *
 * In v2 every fixed-header byte but the commitment comes first, so "fixed header minus commitment" is a
 * prefix: it is bound into the key derivation (the commitment check authenticates it), and the header tag
 * authenticates the wrap section too, before any segment is read.
 */

export const SEGMENTED_VERSION_1 = FORMAT_VERSION_1;
export const SEGMENTED_VERSION_2 = 0x02;
export type SegmentedVersion = typeof SEGMENTED_VERSION_1 | typeof SEGMENTED_VERSION_2;
/** The version EncryptStream writes. */
export const CURRENT_SEGMENTED_VERSION: SegmentedVersion = SEGMENTED_VERSION_2;

export const SEGMENT_SIZE_LENGTH = 4;
export const HEADER_TAG_LENGTH = 32;
/** Fixed header of a segmented envelope (either version) = single-block fixed header + segmentSize. */
export const SEGMENTED_FIXED_HEADER_BASE_LENGTH = FIXED_HEADER_BASE_LENGTH + SEGMENT_SIZE_LENGTH; // 54
export const MIN_SEGMENT_BYTES = 1024;
/** The format's largest segment; a reader may cap lower (its maxSegmentBytes). */
export const MAX_SEGMENT_BYTES = 4 * 1024 * 1024;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024;
/** Segment indexes are u32: at most 2^32 segments per stream (one data key). */
export const MAX_SEGMENTS = 2 ** 32;
/** Plaintext bytes one stream (one data key, one content key) may carry: 2^48 (256 TiB); docs §5. */
export const MAX_STREAM_PLAINTEXT_BYTES = 2 ** 48;
const HEADER_BASE_V1 = SEGMENTED_FIXED_HEADER_BASE_LENGTH + WRAP_SECTION_BASE_LENGTH; // 101
const HEADER_BASE_V2 = HEADER_BASE_V1 + HEADER_TAG_LENGTH; // 133
/** Shortest and longest headers of either version: v1 103..229, v2 135..261. */
export const MIN_SEGMENTED_HEADER_LENGTH = HEADER_BASE_V1 + 2 * MIN_ID_LENGTH; // 103
export const MAX_SEGMENTED_HEADER_LENGTH = HEADER_BASE_V2 + 2 * MAX_ID_LENGTH; // 261
/** The smallest segmented envelope (v1): shortest header and one empty final segment (its tag). */
export const MIN_SEGMENTED_ENVELOPE_LENGTH = MIN_SEGMENTED_HEADER_LENGTH + TAG_LENGTH; // 119
/** Bytes of the prefix that tell a segmented envelope from a single-block one (magic .. flags). */
export const FORMAT_PREFIX_LENGTH = 5;

export interface SegmentedHeader extends EnvelopeRef {
  readonly version: SegmentedVersion;
  readonly tenant: string;
  readonly policyId: string;
  readonly keyVersion: number;
  /** The whole header (fixed header || wrap section, and the header tag in v2). */
  readonly bytes: Buffer;
  /** magic .. end of the fixed header: the first part of every segment's AAD. */
  readonly fixedHeader: Buffer;
  readonly nonce: Buffer;
  readonly commitment: Buffer;
  readonly segmentSize: number;
  readonly wrapSection: Buffer;
  readonly wrappedKey: Buffer;
  /** v2: the header tag (32 bytes); v1: empty. */
  readonly headerTag: Buffer;
}

export function isValidSegmentSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= MIN_SEGMENT_BYTES && n <= MAX_SEGMENT_BYTES;
}

export function requireSegmentSize(n: number): number {
  if (!isValidSegmentSize(n))
    throw invalidArgument(`segment size must be an integer from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES} bytes`);
  return n;
}

/**
 * Which format the first bytes of an envelope announce: `segmented` (v1 or v2, flags bit 0, suite 1), `block`
 * (v1, flags 0, suite 1 or 2), or `unknown` (too short, or no known envelope; opening it will fail with the
 * generic error).
 */
export function envelopeKind(prefix: Uint8Array): 'block' | 'segmented' | 'unknown' {
  if (prefix.length < FORMAT_PREFIX_LENGTH) return 'unknown';
  if (prefix[0] !== MAGIC_0 || prefix[1] !== MAGIC_1) return 'unknown';
  const version = prefix[2];
  const suite = prefix[3];
  if (
    prefix[4] === FLAG_SEGMENTED &&
    suite === SUITE_AES256GCM_HKDF_KWP &&
    (version === SEGMENTED_VERSION_1 || version === SEGMENTED_VERSION_2)
  )
    return 'segmented';
  if (prefix[4] === 0 && version === FORMAT_VERSION_1 && isBlockSuite(suite)) return 'block';
  return 'unknown';
}

export function segmentedHeaderLength(ref: EnvelopeRef, version: SegmentedVersion = CURRENT_SEGMENTED_VERSION): number {
  return (version === SEGMENTED_VERSION_1 ? HEADER_BASE_V1 : HEADER_BASE_V2) + ref.tenant.length + ref.policyId.length;
}

/**
 * Serializes a header with its commitment (and, in v2, its header tag) zero: the caller derives them from the
 * data key and the bytes written here, then fills them in through the parsed views (segment-keys.ts).
 */
export function layoutSegmentedHeader(
  version: SegmentedVersion,
  ref: EnvelopeRef,
  nonce: Uint8Array,
  segmentSize: number,
  wrappedKey: Uint8Array,
): Buffer {
  validateRef(ref);
  requireSegmentSize(segmentSize);
  if (nonce.length !== NONCE_LENGTH) throw new Error('nonce of the wrong length');
  const out = Buffer.alloc(segmentedHeaderLength(ref, version));
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = version;
  out[3] = SUITE_AES256GCM_HKDF_KWP;
  out[4] = FLAG_SEGMENTED;
  out[5] = ref.tenant.length;
  let off = 6 + out.write(ref.tenant, 6, 'latin1');
  if (version === SEGMENTED_VERSION_2) off = out.writeUInt32BE(segmentSize, off);
  out.set(nonce, off);
  off += NONCE_LENGTH + COMMITMENT_LENGTH; // the commitment stays zero here
  if (version === SEGMENTED_VERSION_1) off = out.writeUInt32BE(segmentSize, off);
  writeWrapSection(out, off, ref.policyId, ref.keyVersion, wrappedKey); // v2: the header tag stays zero
  return out;
}

/**
 * A header with another wrap section (Rewrap): the fixed header copied byte for byte, then the new wrap
 * section, then (v2) a zero header tag for the caller to fill in.
 */
export function replaceWrapSection(header: SegmentedHeader, ref: EnvelopeRef, wrappedKey: Uint8Array): Buffer {
  validateRef(ref);
  const out = Buffer.alloc(segmentedHeaderLength(ref, header.version));
  header.fixedHeader.copy(out, 0);
  writeWrapSection(out, header.fixedHeader.length, ref.policyId, ref.keyVersion, wrappedKey);
  return out;
}

/** Length of the segmented envelope of `plaintextLength` bytes: header + plaintext + one tag per segment. */
export function segmentedEnvelopeLength(
  ref: EnvelopeRef & { version?: SegmentedVersion },
  segmentSize: number,
  plaintextLength: number,
): number {
  return (
    segmentedHeaderLength(ref, ref.version) + plaintextLength + segmentCount(segmentSize, plaintextLength) * TAG_LENGTH
  );
}

/** Segments of a stream of `plaintextLength` bytes: the final one is always shorter than a full segment. */
export function segmentCount(segmentSize: number, plaintextLength: number): number {
  return Math.floor(plaintextLength / segmentSize) + 1;
}

// ---- parser ----------------------------------------------------------------------------------------------

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

/** The refusal of a segment size the format allows but this reader does not: the request, not the envelope, is refused. */
export function segmentSizeOverCap(maxSegmentBytes: number): Error {
  return invalidArgument(
    `the envelope's segment size is larger than this reader's maximum of ${maxSegmentBytes} bytes`,
  );
}

/** Checks a segment size read from a header: the format's range (else the generic failure), then the reader's cap. */
function checkSegmentSize(segmentSize: number, maxSegmentBytes: number): void {
  if (!isValidSegmentSize(segmentSize)) throw decryptionFailed();
  if (segmentSize > maxSegmentBytes) throw segmentSizeOverCap(maxSegmentBytes);
}

/**
 * Strict, incremental parse of a segmented header (v1 or v2) from the first bytes of an envelope. Returns
 * `undefined` while `bytes` is too short to hold the whole header (feed more and call again); throws the one
 * generic decryptionFailed() as soon as the bytes seen so far cannot begin a valid header (checks run on what
 * is available, so garbage is rejected early, not after buffering). A segment size over `maxSegmentBytes`
 * (the reader's cap, at most the format's 4 MiB) is refused with invalidArgument as soon as its 4 bytes are
 * in. Nothing here is authenticated yet: the caller must not size anything from the result before
 * SegmentOpener.unlock() verified the header (v2) or at all beyond the cap (v1). Returns views into `bytes`.
 */
export function parseSegmentedHeader(
  bytes: Uint8Array,
  maxSegmentBytes: number = MAX_SEGMENT_BYTES,
): SegmentedHeader | undefined {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = buf.length;
  if (len > 0 && buf[0] !== MAGIC_0) throw decryptionFailed();
  if (len > 1 && buf[1] !== MAGIC_1) throw decryptionFailed();
  if (len < 3) return undefined;
  const version = buf[2];
  if (version !== SEGMENTED_VERSION_1 && version !== SEGMENTED_VERSION_2) throw decryptionFailed();
  if (len > 3 && buf[3] !== SUITE_AES256GCM_HKDF_KWP) throw decryptionFailed();
  if (len > 4 && buf[4] !== FLAG_SEGMENTED) throw decryptionFailed();
  if (len < 6) return undefined;
  const tenantLen = buf[5] as number;
  if (tenantLen < MIN_ID_LENGTH || tenantLen > MAX_ID_LENGTH) throw decryptionFailed();
  const v2 = version === SEGMENTED_VERSION_2;
  const fixedEnd = SEGMENTED_FIXED_HEADER_BASE_LENGTH + tenantLen;
  // v2 has the segment size right after the tenant: refuse an oversized one before anything else arrives.
  const sizeAt = v2 ? 6 + tenantLen : fixedEnd - SEGMENT_SIZE_LENGTH;
  if (len < sizeAt + SEGMENT_SIZE_LENGTH) return undefined;
  if (!isIdBytes(buf, 6, tenantLen)) throw decryptionFailed();
  const segmentSize = buf.readUInt32BE(sizeAt);
  checkSegmentSize(segmentSize, maxSegmentBytes);
  if (len < fixedEnd + 1) return undefined;
  const nonceAt = v2 ? sizeAt + SEGMENT_SIZE_LENGTH : 6 + tenantLen;
  const commitmentAt = nonceAt + NONCE_LENGTH;
  const policyLen = buf[fixedEnd] as number;
  if (policyLen < MIN_ID_LENGTH || policyLen > MAX_ID_LENGTH) throw decryptionFailed();
  const wrapEnd = fixedEnd + WRAP_SECTION_BASE_LENGTH + policyLen;
  const end = wrapEnd + (v2 ? HEADER_TAG_LENGTH : 0);
  if (len < end) return undefined;
  let off = fixedEnd + 1;
  if (!isIdBytes(buf, off, policyLen)) throw decryptionFailed();
  const policyId = buf.toString('latin1', off, off + policyLen);
  off += policyLen;
  const keyVersion = buf.readUInt32BE(off);
  off += 4;
  if (keyVersion < MIN_KEY_VERSION) throw decryptionFailed();
  if (buf.readUInt16BE(off) !== WRAPPED_KEY_LENGTH) throw decryptionFailed();
  off += 2;
  return {
    version,
    tenant: buf.toString('latin1', 6, 6 + tenantLen),
    policyId,
    keyVersion,
    bytes: buf.subarray(0, end),
    fixedHeader: buf.subarray(0, fixedEnd),
    nonce: buf.subarray(nonceAt, nonceAt + NONCE_LENGTH),
    commitment: buf.subarray(commitmentAt, commitmentAt + COMMITMENT_LENGTH),
    segmentSize,
    wrapSection: buf.subarray(fixedEnd, wrapEnd),
    wrappedKey: buf.subarray(off, off + WRAPPED_KEY_LENGTH),
    headerTag: buf.subarray(wrapEnd, end),
  };
}
