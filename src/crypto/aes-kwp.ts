import { createCipheriv, createDecipheriv } from 'node:crypto';
import { decryptionFailed, UnwrapdError } from '../errors.js';
import type { SecretKey } from './secret-key.js';

/**
 * AES-256 key wrap with padding (RFC 5649, NIST SP 800-38F "KWP"), through OpenSSL's id-aes256-wrap-pad.
 *
 * KWP is deterministic and nonce-free: its security does not degrade with the number of keys wrapped under one
 * KEK the way random-nonce AES-GCM does (see docs/envelope-format.md, "Usage bounds").
 */

const ALGORITHM = 'id-aes256-wrap-pad';
/** RFC 5649 section 3: the alternative initial value (AIV) prefix; OpenSSL takes its 4 bytes as the IV. */
const KWP_AIV = Buffer.from('A65959A6', 'hex');
export const KWP_KEK_LENGTH = 32;
/** Wrapping n bytes yields 8 * ceil(n / 8) + 8 bytes (at least 16). */
export function kwpWrappedLength(keyLength: number): number {
  return Math.max(16, 8 * Math.ceil(keyLength / 8) + 8);
}

function kekBytes(kek: SecretKey): Buffer {
  const bytes = kek.expose();
  if (bytes.length !== KWP_KEK_LENGTH) {
    throw new UnwrapdError('internal', `AES-KWP key-encryption key must be ${KWP_KEK_LENGTH} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export function kwpWrap(kek: SecretKey, key: Uint8Array): Buffer {
  const k = kekBytes(kek);
  if (key.length < 1) throw new UnwrapdError('internal', 'AES-KWP cannot wrap an empty key');
  const cipher = createCipheriv(ALGORITHM, k, KWP_AIV);
  const out = cipher.update(key);
  const tail = cipher.final(); // empty in practice; kept for correctness
  return tail.length === 0 ? out : Buffer.concat([out, tail]);
}

/**
 * Unwraps and checks integrity (the AIV and padding checks of RFC 5649 section 3). Any failure (bad length,
 * integrity) throws decryptionFailed(), never the underlying OpenSSL message. The caller owns the result and
 * should zero it after use.
 */
export function kwpUnwrap(kek: SecretKey, wrapped: Uint8Array): Buffer {
  const k = kekBytes(kek);
  // OpenSSL accepts an empty input and returns nothing; anything not a whole number of >= 2 semiblocks is malformed.
  if (wrapped.length < 16 || wrapped.length % 8 !== 0) throw decryptionFailed();
  let out: Buffer | undefined;
  try {
    const decipher = createDecipheriv(ALGORITHM, k, KWP_AIV);
    out = decipher.update(wrapped);
    const tail = decipher.final();
    if (tail.length !== 0) {
      const all = Buffer.concat([out, tail]);
      out.fill(0);
      tail.fill(0);
      out = all;
    }
  } catch {
    // Do not chain the OpenSSL error as cause: it is noise and we want one generic failure.
    if (out) out.fill(0);
    throw decryptionFailed();
  }
  if (out.length === 0) throw decryptionFailed();
  return out;
}
