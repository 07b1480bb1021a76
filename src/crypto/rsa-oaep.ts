import { hash, timingSafeEqual } from 'node:crypto';
import { SecretKey, secretBuffer } from './secret-key.js';

/**
 * RSA-OAEP decoding (RFC 8017 section 7.1.2, EME-OAEP with SHA-256, MGF1-SHA-256, empty label) of the raw
 * RSA output, for providers that decrypt with node:crypto (the local keystore).
 *
 * Why not privateDecrypt with RSA_PKCS1_OAEP_PADDING: Node allocates the output at the modulus size (256
 * bytes), lets OpenSSL write the 32-byte key into it, then copies the key into a right-sized buffer and frees
 * the first one without clearing it: the key stays in a free malloc chunk (its last 16 bytes; the allocator
 * writes its own pointers over the first 16) until that memory is reused. With RSA_NO_PADDING the output is
 * exactly the modulus size, so Node hands over that one buffer, and everything unmasked here lives in
 * buffers this function zeroizes. Hashes use crypto.hash (one shot: it keeps no copy of its output, unlike a
 * Hash object, which holds its digest until garbage collection).
 *
 * The checks run over every byte whatever the input (no early exit on the label hash, the leading zero or
 * the padding), so a failure takes the same path as a success up to the final decision.
 */

const H = 32;
const EMPTY_LABEL_HASH = hash('sha256', Buffer.alloc(0), 'buffer');

/** XORs MGF1-SHA256(seed) into `target`, in place. */
function xorMgf1(seed: Uint8Array, target: Buffer): void {
  const input = secretBuffer(seed.length + 4);
  input.set(seed);
  try {
    for (let counter = 0, off = 0; off < target.length; counter++, off += H) {
      input.writeUInt32BE(counter, seed.length);
      const block = hash('sha256', input, 'buffer');
      const n = Math.min(H, target.length - off);
      for (let i = 0; i < n; i++) target[off + i]! ^= block[i]!;
      block.fill(0);
    }
  } finally {
    input.fill(0);
  }
}

export class OaepDecodingError extends Error {
  constructor() {
    super('RSA-OAEP decoding failed');
    this.name = 'OaepDecodingError';
  }
}

/**
 * Decodes the encoded message `em` (the RSA decryption with no padding, modulus-size bytes) into the key it
 * carries. Throws OaepDecodingError (one message for every cause) when it is not a valid encoding. Does not
 * touch `em`; the caller zeroizes it.
 */
export function decodeOaepSha256(em: Uint8Array): SecretKey {
  const k = em.length;
  if (k < 2 * H + 2) throw new OaepDecodingError();
  const work = secretBuffer(k);
  work.set(em);
  try {
    const seed = work.subarray(1, 1 + H);
    const db = work.subarray(1 + H);
    xorMgf1(db, seed); // seed = maskedSeed ^ MGF1(maskedDB): before db is unmasked
    xorMgf1(seed, db); // DB = maskedDB ^ MGF1(seed) = lHash' || PS (zeros) || 0x01 || M
    let bad = work[0]!;
    bad |= timingSafeEqual(db.subarray(0, H), EMPTY_LABEL_HASH) ? 0 : 1;
    let found = 0;
    let index = 0;
    for (let i = H; i < db.length; i++) {
      const b = db[i]!;
      const isOne = ((b ^ 1) - 1) >>> 31;
      const isZero = (b - 1) >>> 31;
      const before = found ^ 1;
      index += (before & isOne) * i;
      bad |= before & (1 ^ (isZero | isOne)); // a byte other than 0 before the 0x01
      found |= isOne;
    }
    bad |= found ^ 1;
    if (bad !== 0) throw new OaepDecodingError();
    return SecretKey.copyFrom(db.subarray(index + 1));
  } finally {
    work.fill(0);
  }
}
