import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { decryptionFailed, UnwrapdError } from '../errors.js';
import { secretBuffer, type SecretKey } from './secret-key.js';

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
    throw new UnwrapdError(
      'internal',
      `AES-KWP key-encryption key must be ${KWP_KEK_LENGTH} bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}

/**
 * Runs the whole of one AES-KWP operation on a fresh cipher context and always ends it with final(): Node
 * frees the native EVP context (and the KEK's key schedule in it, which OpenSSL clears on free) in final(),
 * and only there. A context left unfinished, e.g. after update() threw on an unwrap that failed its integrity
 * check, would keep the KEK's round keys until the garbage collector finalizes the object, a minute or more
 * on an idle daemon (test/key-residue.test.ts scans for them). Node copies the key it is given into a native
 * buffer that it clears right after the context is set up, so the context is the only native copy.
 * OpenSSL's KWP does all its work in update(); final() returns nothing.
 */
function runOnce(context: Cipher | Decipher, input: Uint8Array): Buffer {
  let out: Buffer;
  try {
    out = context.update(input);
  } catch (err) {
    try {
      context.final(); // frees the context; throws "unsupported state" after a failed update
    } catch {
      // the context is freed either way
    }
    throw err;
  }
  let tail: Buffer;
  try {
    tail = context.final();
  } catch (err) {
    out.fill(0);
    throw err;
  }
  if (tail.length === 0) return out;
  const all = secretBuffer(out.length + tail.length);
  out.copy(all, 0);
  tail.copy(all, out.length);
  out.fill(0);
  tail.fill(0);
  return all;
}

export function kwpWrap(kek: SecretKey, key: Uint8Array): Buffer {
  const k = kekBytes(kek);
  if (key.length < 1) throw new UnwrapdError('internal', 'AES-KWP cannot wrap an empty key');
  return runOnce(createCipheriv(ALGORITHM, k, KWP_AIV), key);
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
  let out: Buffer;
  try {
    out = runOnce(createDecipheriv(ALGORITHM, k, KWP_AIV), wrapped);
  } catch {
    // Do not chain the OpenSSL error as cause: it is noise and we want one generic failure.
    throw decryptionFailed();
  }
  if (out.length === 0) throw decryptionFailed();
  return out;
}
