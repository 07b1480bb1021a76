import { createHmac } from 'node:crypto';
import { secretBuffer } from './secret-key.js';

/**
 * HKDF-SHA256 (RFC 5869), written out as its HMACs: PRK = HMAC(salt, ikm); T(i) = HMAC(PRK, T(i-1) || info
 * || i); output = T(1) || T(2) ... cut to `length`. The bytes are exactly `hkdfSync('sha256', ...)`'s
 * (test/hkdf.test.ts checks the RFC 5869 vectors and random inputs against it).
 *
 * Why not hkdfSync: it turns the input key into a KeyObject, whose native copy of the key lives until the
 * garbage collector finalizes it (a minute or more on an idle daemon), after the caller has zeroized its
 * own. An HMAC context holds no raw key, and Node frees it in digest(). Every key derivation in unwrapd goes
 * through here (docs/architecture.md, "Key material in memory"). It is also about twice as fast per call.
 *
 * The result is a buffer of its own (never a slice of Node's shared pool); the caller zeroizes it. Every
 * intermediate value (PRK, T(i)) is zeroized before return.
 */

const HASH_LENGTH = 32;
const MAX_LENGTH = 255 * HASH_LENGTH;
/** COUNTER[i] is the one byte i (1..255): the block counter, without allocating. */
const COUNTER_BYTES = Buffer.alloc(256, 0);
for (let i = 0; i < 256; i++) COUNTER_BYTES[i] = i;
const COUNTER = Array.from({ length: 256 }, (_, i) => COUNTER_BYTES.subarray(i, i + 1));

export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > MAX_LENGTH)
    throw new RangeError(`HKDF-SHA256 output length must be 1..${MAX_LENGTH}, got ${length}`);
  // One block (a 32-byte key): T(1) is the output, no copy.
  if (length === HASH_LENGTH) {
    const prk = createHmac('sha256', salt).update(ikm).digest();
    try {
      return createHmac('sha256', prk).update(info).update(COUNTER[1]!).digest();
    } finally {
      prk.fill(0);
    }
  }
  return hkdfSha256Into(ikm, salt, info, secretBuffer(length));
}

/**
 * hkdfSha256 written into `out` (its whole length, 1..8160 bytes), for a caller that keeps a key buffer of its
 * own (a secretBuffer it zeroizes). Returns `out`.
 */
export function hkdfSha256Into(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, out: Buffer): Buffer {
  const length = out.length;
  if (length < 1 || length > MAX_LENGTH)
    throw new RangeError(`HKDF-SHA256 output length must be 1..${MAX_LENGTH}, got ${length}`);
  const prk = createHmac('sha256', salt).update(ikm).digest();
  let previous: Buffer | undefined;
  try {
    for (let i = 1, off = 0; off < length; i++, off += HASH_LENGTH) {
      const h = createHmac('sha256', prk);
      if (previous) h.update(previous);
      const t = h.update(info).update(COUNTER[i]!).digest();
      previous?.fill(0);
      previous = t;
      t.copy(out, off, 0, Math.min(HASH_LENGTH, length - off));
    }
    return out;
  } catch (err) {
    out.fill(0);
    throw err;
  } finally {
    prk.fill(0);
    previous?.fill(0);
  }
}
