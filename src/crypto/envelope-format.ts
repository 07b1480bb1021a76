import { decryptionFailed, invalidArgument } from '../errors.js';
import { ID_PATTERN } from '../ids.js';

/**
 * The v1 single-block envelope: byte layout, constants, serializer and strict parser. No cryptography here
 * (see envelope.ts). The authoritative description is docs/envelope-format.md.
 *
 *   offset  size  field
 *   0       2     magic 0x55 0x57 ("UW")
 *   2       1     format version 0x01
 *   3       1     suite: 0x01 or 0x02 (AES-256-GCM content, AES-KWP data-key wrap; block keys and key commitment
 *                 by HKDF-SHA256 in suite 1, by the SP 800-56C one-step KDF with SHA-512 in suite 2)
 *   4       1     flags 0x00 (bit 0 reserved for the segmented stream format; any set bit is rejected)
 *   5       1     tenantLen (1..64), then tenant
 *   .       12    nonce
 *   .       32    commitment
 *   ---- end of the fixed header (content AAD = fixed header || encoded context) ----
 *   .       1     policyLen (1..64), then policy id
 *   .       4     key version, u32 BE, >= 1
 *   .       2     wrappedLen, u16 BE, = 40 (both suites), then the wrapped data key
 *   ---- end of the wrap section ----
 *   .       N     ciphertext (N >= 0)
 *   .       16    GCM tag
 */

export const MAGIC_0 = 0x55; // 'U'
export const MAGIC_1 = 0x57; // 'W'
export const FORMAT_VERSION_1 = 0x01;
/** Suite 1: block keys and commitment by HKDF-SHA256 (docs/envelope-format.md §3.3). Segmented envelopes too. */
export const SUITE_AES256GCM_HKDF_KWP = 0x01;
/** Suite 2: block keys and commitment by the one-step KDF with SHA-512 (§3.3); single-block envelopes only. */
export const SUITE_AES256GCM_SHA512KDF_KWP = 0x02;
/** The suites of a single-block envelope. */
export type BlockSuite = typeof SUITE_AES256GCM_HKDF_KWP | typeof SUITE_AES256GCM_SHA512KDF_KWP;
/** The suite new single-block envelopes are sealed with unless told otherwise (the `envelopeWriteSuite` setting). */
export const DEFAULT_BLOCK_SUITE: BlockSuite = SUITE_AES256GCM_SHA512KDF_KWP;

export function isBlockSuite(v: unknown): v is BlockSuite {
  return v === SUITE_AES256GCM_HKDF_KWP || v === SUITE_AES256GCM_SHA512KDF_KWP;
}
/** Reserved for the segmented stream format; not valid in a single-block envelope. */
export const FLAG_SEGMENTED = 0x01;
/** Flags a v1 single-block envelope may carry: none. */
export const KNOWN_BLOCK_FLAGS = 0x00;

export const DATA_KEY_LENGTH = 32;
export const NONCE_LENGTH = 12;
export const COMMITMENT_LENGTH = 32;
export const TAG_LENGTH = 16;
/** AES-KWP of a 32-byte data key: 32 + 8. */
export const WRAPPED_KEY_LENGTH = 40;
export const MIN_ID_LENGTH = 1;
export const MAX_ID_LENGTH = 64;
export const MIN_KEY_VERSION = 1;
export const MAX_KEY_VERSION = 0xffff_ffff;

/** magic + version + suite + flags + tenantLen. */
const PREFIX_LENGTH = 6;
/** Fixed header = PREFIX + tenant + nonce + commitment. */
export const FIXED_HEADER_BASE_LENGTH = PREFIX_LENGTH + NONCE_LENGTH + COMMITMENT_LENGTH; // 50
/** Wrap section = policyLen + policy + version + wrappedLen + wrapped key. */
export const WRAP_SECTION_BASE_LENGTH = 1 + 4 + 2 + WRAPPED_KEY_LENGTH; // 47
export const MIN_ENVELOPE_OVERHEAD =
  FIXED_HEADER_BASE_LENGTH + MIN_ID_LENGTH + WRAP_SECTION_BASE_LENGTH + MIN_ID_LENGTH + TAG_LENGTH; // 115
/** The largest possible header + tag: an envelope is at most plaintext length + this. */
export const MAX_ENVELOPE_OVERHEAD =
  FIXED_HEADER_BASE_LENGTH + MAX_ID_LENGTH + WRAP_SECTION_BASE_LENGTH + MAX_ID_LENGTH + TAG_LENGTH; // 241

export interface EnvelopeRef {
  tenant: string;
  policyId: string;
  keyVersion: number;
}

/**
 * A structurally valid envelope. Every Buffer is a view into the bytes given to parseEnvelope (no copies):
 * the caller must not modify those bytes until it is done with this object.
 */
export interface ParsedEnvelope extends EnvelopeRef {
  /** The suite byte: which derivation of the block keys opens it (rewrap keeps it). */
  readonly suite: BlockSuite;
  readonly tenant: string;
  readonly policyId: string;
  readonly keyVersion: number;
  /** The whole envelope. */
  readonly bytes: Buffer;
  /** magic .. commitment; the first part of the content AAD. */
  readonly fixedHeader: Buffer;
  readonly nonce: Buffer;
  readonly commitment: Buffer;
  /** policyLen .. wrapped key. */
  readonly wrapSection: Buffer;
  readonly wrappedKey: Buffer;
  /** ciphertext || tag. */
  readonly body: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

// ---- ids -------------------------------------------------------------------------------------------------

/** 1 for [A-Za-z0-9], 2 for [._-], 0 otherwise: the byte-level form of ID_PATTERN, for the parser. */
const ID_BYTE_CLASS = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  t[0x2e] = 2;
  t[0x5f] = 2;
  t[0x2d] = 2;
  return t;
})();

function isIdBytes(buf: Buffer, start: number, len: number): boolean {
  if (len < MIN_ID_LENGTH || len > MAX_ID_LENGTH) return false;
  if (ID_BYTE_CLASS[buf[start] as number] !== 1) return false;
  for (let i = start + 1; i < start + len; i++) {
    if (ID_BYTE_CLASS[buf[i] as number] === 0) return false;
  }
  return true;
}

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

export function isValidKeyVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= MIN_KEY_VERSION && v <= MAX_KEY_VERSION;
}

/** Throws invalidArgument naming the offending field. Ids are safe to echo: they are validated identifiers. */
export function validateRef(ref: EnvelopeRef, what = 'key reference'): void {
  if (ref === null || typeof ref !== 'object') throw invalidArgument(`${what} is missing`);
  if (!isValidId(ref.tenant)) {
    throw invalidArgument(`${what}: tenant must match ${ID_PATTERN.source} (1..${MAX_ID_LENGTH} ASCII characters)`);
  }
  if (!isValidId(ref.policyId)) {
    throw invalidArgument(`${what}: policy id must match ${ID_PATTERN.source} (1..${MAX_ID_LENGTH} ASCII characters)`);
  }
  if (!isValidKeyVersion(ref.keyVersion)) {
    throw invalidArgument(`${what}: key version must be an integer in ${MIN_KEY_VERSION}..${MAX_KEY_VERSION}`);
  }
}

// ---- serializer ------------------------------------------------------------------------------------------

export function fixedHeaderLength(tenant: string): number {
  return FIXED_HEADER_BASE_LENGTH + tenant.length;
}

export function wrapSectionLength(policyId: string): number {
  return WRAP_SECTION_BASE_LENGTH + policyId.length;
}

/**
 * Writes the fixed header at `out[0..]` and returns its length. The caller has validated the tenant and the
 * suite; the commitment may be written later at the returned commitment offset (offset = length - 32).
 */
export function writeFixedHeader(out: Buffer, tenant: string, nonce: Uint8Array, suite: BlockSuite): number {
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = FORMAT_VERSION_1;
  out[3] = suite;
  out[4] = KNOWN_BLOCK_FLAGS;
  out[5] = tenant.length;
  let off = PREFIX_LENGTH + out.write(tenant, PREFIX_LENGTH, 'latin1');
  out.set(nonce, off);
  off += NONCE_LENGTH;
  return off + COMMITMENT_LENGTH;
}

/** Writes the wrap section at `out[offset..]` and returns the offset just past it. */
export function writeWrapSection(
  out: Buffer,
  offset: number,
  policyId: string,
  keyVersion: number,
  wrappedKey: Uint8Array,
): number {
  if (wrappedKey.length !== WRAPPED_KEY_LENGTH) {
    throw new Error(`wrapped data key must be ${WRAPPED_KEY_LENGTH} bytes, got ${wrappedKey.length}`);
  }
  let off = offset;
  out[off++] = policyId.length;
  off += out.write(policyId, off, 'latin1');
  out.writeUInt32BE(keyVersion, off);
  off += 4;
  out.writeUInt16BE(WRAPPED_KEY_LENGTH, off);
  off += 2;
  out.set(wrappedKey, off);
  return off + WRAPPED_KEY_LENGTH;
}

/** fixed header || new wrap section || body: the serializer Rewrap uses. */
export function serializeWithWrapSection(
  fixedHeader: Uint8Array,
  policyId: string,
  keyVersion: number,
  wrappedKey: Uint8Array,
  body: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(fixedHeader.length + wrapSectionLength(policyId) + body.length);
  out.set(fixedHeader, 0);
  const off = writeWrapSection(out, fixedHeader.length, policyId, keyVersion, wrappedKey);
  out.set(body, off);
  return out;
}

// ---- parser ----------------------------------------------------------------------------------------------

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Strict, bounds-checked parse of a v1 single-block envelope. Every check precedes the read it guards; any
 * malformed input (bad magic, version, suite, flags, lengths, ids, key version, truncation) throws the one
 * generic decryptionFailed(). Returns views into `bytes`, no copies.
 */
export function parseEnvelope(bytes: Uint8Array): ParsedEnvelope {
  if (!(bytes instanceof Uint8Array)) throw decryptionFailed();
  const buf = asBuffer(bytes);
  const len = buf.length;
  // Cheapest rejection first: anything shorter than the smallest envelope.
  if (len < MIN_ENVELOPE_OVERHEAD) throw decryptionFailed();
  if (
    buf[0] !== MAGIC_0 ||
    buf[1] !== MAGIC_1 ||
    buf[2] !== FORMAT_VERSION_1 ||
    (buf[3] !== SUITE_AES256GCM_HKDF_KWP && buf[3] !== SUITE_AES256GCM_SHA512KDF_KWP) ||
    buf[4] !== KNOWN_BLOCK_FLAGS
  ) {
    throw decryptionFailed();
  }
  const tenantLen = buf[5] as number; // len >= 115, so index 5 exists
  let off = PREFIX_LENGTH;
  // tenant + nonce + commitment + policyLen byte must fit.
  if (off + tenantLen + NONCE_LENGTH + COMMITMENT_LENGTH + 1 > len) throw decryptionFailed();
  if (!isIdBytes(buf, off, tenantLen)) throw decryptionFailed();
  const tenant = buf.toString('latin1', off, off + tenantLen);
  off += tenantLen;
  const nonce = buf.subarray(off, off + NONCE_LENGTH);
  off += NONCE_LENGTH;
  const commitment = buf.subarray(off, off + COMMITMENT_LENGTH);
  off += COMMITMENT_LENGTH;
  const fixedHeaderEnd = off;

  const policyLen = buf[off] as number; // bounds checked above
  off += 1;
  // policy + version + wrappedLen + wrapped key + tag must fit.
  if (off + policyLen + 4 + 2 + WRAPPED_KEY_LENGTH + TAG_LENGTH > len) throw decryptionFailed();
  if (!isIdBytes(buf, off, policyLen)) throw decryptionFailed();
  const policyId = buf.toString('latin1', off, off + policyLen);
  off += policyLen;
  const keyVersion = buf.readUInt32BE(off);
  off += 4;
  if (keyVersion < MIN_KEY_VERSION) throw decryptionFailed();
  const wrappedLen = buf.readUInt16BE(off);
  off += 2;
  if (wrappedLen !== WRAPPED_KEY_LENGTH) throw decryptionFailed();
  const wrappedKey = buf.subarray(off, off + WRAPPED_KEY_LENGTH);
  off += WRAPPED_KEY_LENGTH;
  const wrapEnd = off;

  // Remaining: ciphertext (>= 0) || tag (16); guaranteed >= 16 by the check above.
  const tagStart = len - TAG_LENGTH;
  return {
    suite: buf[3] as BlockSuite,
    tenant,
    policyId,
    keyVersion,
    bytes: buf,
    fixedHeader: buf.subarray(0, fixedHeaderEnd),
    nonce,
    commitment,
    wrapSection: buf.subarray(fixedHeaderEnd, wrapEnd),
    wrappedKey,
    body: buf.subarray(wrapEnd),
    ciphertext: buf.subarray(wrapEnd, tagStart),
    tag: buf.subarray(tagStart),
  };
}

/**
 * parseEnvelope for a caller acting for `tenant`: an envelope of another tenant is the generic failure, before
 * any key is looked up (docs/envelope-format.md §3.7). The tenant is in the AAD and the KEK derivation, but
 * the KEK is derived from the envelope's own tenant: only this comparison keeps a caller of one tenant from
 * opening another tenant's envelopes with that tenant's key.
 */
export function parseEnvelopeFor(tenant: string, bytes: Uint8Array): ParsedEnvelope {
  const parsed = parseEnvelope(bytes);
  if (parsed.tenant !== tenant) throw decryptionFailed();
  return parsed;
}
