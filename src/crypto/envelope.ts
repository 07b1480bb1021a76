import { hash, timingSafeEqual } from 'node:crypto';
import { fillRandom } from './random-pool.js';
import { decryptionFailed, invalidArgument, UnwrapdError } from '../errors.js';
import { gcmOpen, gcmSealInto } from './aes-gcm.js';
import { kwpUnwrap, kwpWrap } from './aes-kwp.js';
import { encodeContext, type EncryptionContext } from './encryption-context.js';
import { hkdfSha256, hkdfSha256Into } from './hkdf.js';
import {
  COMMITMENT_LENGTH,
  DATA_KEY_LENGTH,
  DEFAULT_BLOCK_SUITE,
  isBlockSuite,
  SUITE_AES256GCM_HKDF_KWP,
  fixedHeaderLength,
  NONCE_LENGTH,
  serializeWithWrapSection,
  TAG_LENGTH,
  validateRef,
  wrapSectionLength,
  writeFixedHeader,
  writeWrapSection,
  type BlockSuite,
  type EnvelopeRef,
  type ParsedEnvelope,
} from './envelope-format.js';
import { SecretKey, secretBuffer } from './secret-key.js';

/**
 * Seal / open / rewrap of v1 single-block envelopes (layout in envelope-format.ts, spec in
 * docs/envelope-format.md):
 *
 *   DK  = 32 random bytes, one block only
 *   KEK = HKDF-SHA256(ikm = intermediate key, salt = "", info = "unwrapd/v1 kek" || u8 |tenant| || tenant ||
 *                     u8 |policy| || policy || u32be version, L = 32)
 *   (contentKey || commitment) = suite 1: HKDF-SHA256(ikm = DK, salt = nonce, info = "unwrapd/v1 block keys", L = 64)
 *                                suite 2: SHA-512(u32be(1) || DK || "unwrapd/v1 suite 2 block keys" || nonce)
 *   wrapped DK = AES-KWP(KEK, DK)                                   (40 bytes)
 *   ciphertext || tag = AES-256-GCM(contentKey, nonce, AAD = fixedHeader || encodeContext(context), plaintext)
 */

export type { BlockSuite, EnvelopeRef, ParsedEnvelope } from './envelope-format.js';
export {
  DEFAULT_BLOCK_SUITE,
  MAX_ENVELOPE_OVERHEAD,
  MIN_ENVELOPE_OVERHEAD,
  parseEnvelope,
  parseEnvelopeFor,
} from './envelope-format.js';

const KEK_INFO_PREFIX = Buffer.from('unwrapd/v1 kek', 'latin1');
const BLOCK_KEYS_INFO = Buffer.from('unwrapd/v1 block keys', 'latin1');
/** Suite 2's FixedInfo label (29 ASCII bytes), followed by the nonce. */
export const SUITE2_BLOCK_KEYS_LABEL = Buffer.from('unwrapd/v1 suite 2 block keys', 'latin1');
const EMPTY_SALT = Buffer.alloc(0);
const KEY_LENGTH = 32;

function requireKey(key: SecretKey, name: string): Buffer {
  const bytes = key.expose(); // throws if destroyed (e.g. evicted on revocation mid-request)
  if (bytes.length !== KEY_LENGTH) {
    throw new UnwrapdError('internal', `${name} must be ${KEY_LENGTH} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** The KEK info string for a reference (exported for the vector generator and the spec tests). */
export function kekInfo(ref: EnvelopeRef): Buffer {
  const info = Buffer.allocUnsafe(KEK_INFO_PREFIX.length + 1 + ref.tenant.length + 1 + ref.policyId.length + 4);
  let off = KEK_INFO_PREFIX.copy(info, 0);
  info[off++] = ref.tenant.length;
  off += info.write(ref.tenant, off, 'latin1');
  info[off++] = ref.policyId.length;
  off += info.write(ref.policyId, off, 'latin1');
  info.writeUInt32BE(ref.keyVersion, off);
  return info;
}

/**
 * The key-encryption key that wraps the data keys of envelopes carrying `ref`. The caller owns the result
 * and must destroy() it. Throws invalidArgument for an invalid ref.
 */
export function deriveWrappingKey(intermediateKey: SecretKey, ref: EnvelopeRef): SecretKey {
  validateRef(ref);
  const ikm = requireKey(intermediateKey, 'intermediate key');
  // The HMAC-based HKDF (src/crypto/hkdf.ts), never hkdfSync: no KeyObject keeps the intermediate key.
  return SecretKey.copyFrom(hkdfSha256(ikm, EMPTY_SALT, kekInfo(ref), KEY_LENGTH), true);
}

/**
 * The block keys of `suite` into BLOCK_KEYS: [0,32) the content key, [32,64) the commitment. Zero it after use.
 *
 * Suite 1: HKDF-SHA256(ikm = data key, salt = nonce, info = BLOCK_KEYS_INFO, L = 64) through src/crypto/hkdf.ts
 * (three HMACs: cheaper than hkdfSync, and it leaves no KeyObject holding the data key).
 *
 * Suite 2: the one-step KDF of NIST SP 800-56C Rev. 2 §4.1 (option 1, H = SHA-512, one block):
 * SHA-512(u32be(1) || data key || SUITE2_BLOCK_KEYS_LABEL || nonce), one hash context instead of three HMACs.
 * The input is assembled in a scratch secretBuffer and the digest (a buffer of its own) is copied out; both are
 * zeroed before return.
 */
function deriveBlockKeys(suite: BlockSuite, dataKey: Uint8Array, nonce: Uint8Array): Buffer {
  if (suite === SUITE_AES256GCM_HKDF_KWP) return hkdfSha256Into(dataKey, nonce, BLOCK_KEYS_INFO, BLOCK_KEYS);
  const input = SUITE2_INPUT;
  let digest: Buffer | undefined;
  try {
    input.writeUInt32BE(1, 0);
    input.set(dataKey, 4);
    SUITE2_BLOCK_KEYS_LABEL.copy(input, 4 + DATA_KEY_LENGTH);
    input.set(nonce, SUITE2_NONCE_OFFSET);
    digest = hash('sha512', input, 'buffer');
    digest.copy(BLOCK_KEYS, 0, 0, KEY_LENGTH + COMMITMENT_LENGTH);
    return BLOCK_KEYS;
  } finally {
    input.fill(0);
    digest?.fill(0);
  }
}

/** Offset of the nonce in suite 2's KDF input: counter (4), data key (32), label (29). */
const SUITE2_NONCE_OFFSET = 4 + DATA_KEY_LENGTH + SUITE2_BLOCK_KEYS_LABEL.length;

/*
 * Scratch key buffers of the block path, one each per process (secretBuffer: off the shared pool and the V8
 * heap). Sealing and opening a block is synchronous, so no two blocks ever share them, and every use zeroes
 * them in its `finally`. They save each block two ArrayBuffer allocations.
 */
/** The data key and the nonce of the block being sealed (random-pool bytes). */
const BLOCK_RANDOM = secretBuffer(DATA_KEY_LENGTH + NONCE_LENGTH);
/** The content key and the commitment of the block being sealed or opened (deriveBlockKeys). */
const BLOCK_KEYS = secretBuffer(KEY_LENGTH + COMMITMENT_LENGTH);
/** Suite 2's KDF input: counter || data key || label || nonce (77 bytes); zero between uses. */
const SUITE2_INPUT = secretBuffer(SUITE2_NONCE_OFFSET + NONCE_LENGTH);

export interface SealParams {
  ref: EnvelopeRef;
  kek: SecretKey;
  plaintext: Uint8Array;
  context: EncryptionContext;
  /**
   * Randomness source, injectable for test vectors. Called exactly twice, in this order: random(32) for the
   * data key, then random(12) for the nonce. The data-key buffer it returns is overwritten with zeros after use.
   */
  random?: (n: number) => Buffer;
  /** The suite to seal with (the `envelopeWriteSuite` setting): 1 or 2, default DEFAULT_BLOCK_SUITE (2). */
  suite?: BlockSuite;
}

export function sealBlock(p: SealParams): Buffer {
  const { ref, kek, plaintext, context } = p;
  const suite = p.suite ?? DEFAULT_BLOCK_SUITE;
  if (!isBlockSuite(suite)) throw new UnwrapdError('internal', `unknown envelope suite ${String(suite)}`);
  validateRef(ref);
  if (!(plaintext instanceof Uint8Array)) throw invalidArgument('plaintext must be bytes');
  const aadContext = encodeContext(context); // validates (invalidArgument)
  requireKey(kek, 'key-encryption key'); // fail before consuming randomness

  let dataKey: Buffer;
  let nonce: Buffer;
  if (p.random === undefined) {
    // Both from the random pool into the scratch buffer (a secretBuffer); zeroed in `finally`.
    const r = fillRandom(BLOCK_RANDOM);
    dataKey = r.subarray(0, DATA_KEY_LENGTH);
    nonce = r.subarray(DATA_KEY_LENGTH);
  } else {
    dataKey = p.random(DATA_KEY_LENGTH);
    nonce = p.random(NONCE_LENGTH);
  }
  try {
    if (dataKey.length !== DATA_KEY_LENGTH || nonce.length !== NONCE_LENGTH) {
      throw new UnwrapdError('internal', 'random source returned the wrong number of bytes');
    }

    const fixedLen = fixedHeaderLength(ref.tenant);
    const wrapEnd = fixedLen + wrapSectionLength(ref.policyId);
    const out = Buffer.allocUnsafe(wrapEnd + plaintext.length + TAG_LENGTH);

    const blockKeys = deriveBlockKeys(suite, dataKey, nonce);
    writeFixedHeader(out, ref.tenant, nonce, suite);
    blockKeys.copy(out, fixedLen - COMMITMENT_LENGTH, KEY_LENGTH, KEY_LENGTH + COMMITMENT_LENGTH);
    const wrapped = kwpWrap(kek, dataKey);
    writeWrapSection(out, fixedLen, ref.policyId, ref.keyVersion, wrapped);

    gcmSealInto(
      blockKeys.subarray(0, KEY_LENGTH),
      nonce,
      [out.subarray(0, fixedLen), aadContext],
      plaintext,
      out,
      wrapEnd,
    );
    return out;
  } finally {
    dataKey.fill(0);
    if (p.random === undefined) nonce.fill(0);
    BLOCK_KEYS.fill(0);
  }
}

/**
 * Opens a parsed envelope with the KEK derived for its ref (deriveWrappingKey(ik, parsed)). Every failure of
 * the envelope (unwrap, commitment, tag) throws the one generic decryptionFailed(). An invalid `context`
 * throws invalidArgument (it is the caller's request that is wrong, not the envelope).
 */
export function openBlock(parsed: ParsedEnvelope, kek: SecretKey, context: EncryptionContext): Buffer {
  const aadContext = encodeContext(context);
  const dataKey = kwpUnwrap(kek, parsed.wrappedKey); // decryptionFailed on integrity failure
  try {
    if (dataKey.length !== DATA_KEY_LENGTH) throw decryptionFailed();
    const blockKeys = deriveBlockKeys(parsed.suite, dataKey, parsed.nonce);
    const commitment = blockKeys.subarray(KEY_LENGTH, KEY_LENGTH + COMMITMENT_LENGTH);
    if (parsed.commitment.length !== COMMITMENT_LENGTH || !timingSafeEqual(commitment, parsed.commitment)) {
      throw decryptionFailed();
    }
    // decryptionFailed on a tag mismatch, with the unauthenticated plaintext zeroed (aes-gcm.ts)
    return gcmOpen(
      blockKeys.subarray(0, KEY_LENGTH),
      parsed.nonce,
      [parsed.fixedHeader, aadContext],
      parsed.ciphertext,
      parsed.tag,
    );
  } finally {
    dataKey.fill(0);
    BLOCK_KEYS.fill(0);
  }
}

/**
 * Re-wraps the data key for another policy/version: unwrap with fromKek, verify commitment, wrap with toKek,
 * write a new wrap section; the fixed header and body bytes are copied unchanged (content not re-encrypted),
 * so the envelope keeps its suite.
 * The GCM tag is not checked here (no context is given); a tampered body still fails at openBlock.
 */
export function rewrapEnvelope(
  parsed: ParsedEnvelope,
  fromKek: SecretKey,
  to: { ref: EnvelopeRef; kek: SecretKey },
): Buffer {
  validateRef(to.ref, 'target key reference');
  if (to.ref.tenant !== parsed.tenant) {
    throw invalidArgument('rewrap cannot move an envelope to another tenant', 'TENANT_MISMATCH');
  }
  requireKey(to.kek, 'target key-encryption key');
  const dataKey = kwpUnwrap(fromKek, parsed.wrappedKey);
  try {
    if (dataKey.length !== DATA_KEY_LENGTH) throw decryptionFailed();
    const blockKeys = deriveBlockKeys(parsed.suite, dataKey, parsed.nonce);
    const commitment = blockKeys.subarray(KEY_LENGTH, KEY_LENGTH + COMMITMENT_LENGTH);
    if (parsed.commitment.length !== COMMITMENT_LENGTH || !timingSafeEqual(commitment, parsed.commitment)) {
      throw decryptionFailed();
    }
    const wrapped = kwpWrap(to.kek, dataKey);
    return serializeWithWrapSection(parsed.fixedHeader, to.ref.policyId, to.ref.keyVersion, wrapped, parsed.body);
  } finally {
    dataKey.fill(0);
    BLOCK_KEYS.fill(0);
  }
}
