import { createCipheriv, createDecipheriv, type DecipherGCM } from 'node:crypto';
import { decryptionFailed, UnwrapdError } from '../errors.js';

/**
 * AES-256-GCM with a 96-bit IV and a 128-bit tag: the content cipher of single-block envelopes (envelope.ts),
 * on its own so the primitive can be checked against public vectors (test/wycheproof.test.ts) without going
 * through the key derivation around it. Internal to src/crypto; no other sizes are supported.
 */

const GCM = 'aes-256-gcm';
export const GCM_KEY_LENGTH = 32;
export const GCM_IV_LENGTH = 12;
export const GCM_TAG_LENGTH = 16;

function checkKeyAndIv(key: Uint8Array, iv: Uint8Array): void {
  // Programming errors (every caller passes derived keys and parsed nonces of these sizes), not bad input.
  if (key.length !== GCM_KEY_LENGTH)
    throw new UnwrapdError('internal', `AES-GCM key must be ${GCM_KEY_LENGTH} bytes, got ${key.length}`);
  if (iv.length !== GCM_IV_LENGTH)
    throw new UnwrapdError('internal', `AES-GCM IV must be ${GCM_IV_LENGTH} bytes, got ${iv.length}`);
}

/**
 * Encrypts `plaintext` under (key, iv, aad[0] || aad[1] || ...) and writes the ciphertext at out[offset..]
 * and the tag right after it: `out` needs plaintext.length + 16 bytes from `offset`. Writing in place saves
 * the envelope a copy of the body.
 */
export function gcmSealInto(
  key: Uint8Array,
  iv: Uint8Array,
  aad: readonly Uint8Array[],
  plaintext: Uint8Array,
  out: Buffer,
  offset: number,
): void {
  checkKeyAndIv(key, iv);
  if (offset < 0 || offset + plaintext.length + GCM_TAG_LENGTH > out.length) {
    throw new UnwrapdError('internal', 'AES-GCM output buffer too small');
  }
  const cipher = createCipheriv(GCM, key, iv, { authTagLength: GCM_TAG_LENGTH });
  for (const part of aad) cipher.setAAD(part);
  const ct = cipher.update(plaintext);
  out.set(ct, offset);
  const tail = cipher.final(); // empty for GCM
  if (tail.length !== 0) out.set(tail, offset + ct.length);
  cipher.getAuthTag().copy(out, offset + plaintext.length);
}

/**
 * Decrypts and authenticates. Any failure of the input (tag of the wrong size, tag mismatch) throws the one
 * generic decryptionFailed(), and no unauthenticated plaintext is returned or left in memory.
 */
export function gcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  aad: readonly Uint8Array[],
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Buffer {
  checkKeyAndIv(key, iv);
  if (tag.length !== GCM_TAG_LENGTH) throw decryptionFailed();
  let pt: Buffer | undefined;
  let decipher: DecipherGCM | undefined;
  try {
    decipher = createDecipheriv(GCM, key, iv, { authTagLength: GCM_TAG_LENGTH });
    for (const part of aad) decipher.setAAD(part);
    decipher.setAuthTag(tag);
    pt = decipher.update(ciphertext);
    const tail = decipher.final(); // throws on tag mismatch; empty for GCM
    return tail.length === 0 ? pt : Buffer.concat([pt, tail]);
  } catch {
    pt?.fill(0); // never let unauthenticated plaintext linger
    endQuietly(decipher); // frees the context (and the key in it) now, not at garbage collection
    throw decryptionFailed();
  }
}

/** final() on a context that failed: Node frees the native context there (a second call just throws). */
function endQuietly(context: DecipherGCM | undefined): void {
  try {
    context?.final();
  } catch {
    // freed either way
  }
}
