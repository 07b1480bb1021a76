import { randomFillSync } from 'node:crypto';

/**
 * CSPRNG output drawn in batches. Every block needs 44 fresh random bytes (a data key and a nonce); asking
 * OpenSSL for them one block at a time costs a RAND call per block, which profiles at 10-15 µs on an idle
 * server. The pool asks once per 256 blocks. Bytes are handed out once, and zeroed in the pool as they are
 * taken, so the only random bytes at rest are the ones no block has used yet (they are no more sensitive
 * than the cached wrapping keys in the same process). The pool is private to this module and this
 * process: Node never forks a process that shares it.
 */
const POOL_BYTES = 44 * 256;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** Fills `out` with fresh random bytes. */
export function fillRandom(out: Buffer): Buffer {
  const n = out.length;
  if (n > POOL_BYTES) return randomFillSync(out);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
