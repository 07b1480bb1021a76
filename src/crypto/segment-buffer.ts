/**
 * The partial-segment buffer of a stream (src/crypto/segmented.ts), grown with the bytes that actually
 * arrived instead of sized from the segment size up front. A segment size comes from a header (up to 4 MiB)
 * and a stream may then go idle after a few bytes: pre-sizing made every idle stream cost a whole segment.
 *
 * Returns a buffer of at least `need` bytes (never more than `max`) holding the first `fill` bytes of
 * `current`. Growth doubles (from 4 KiB), so a segment assembled from small chunks is copied O(1) times per
 * byte; a buffer that reached `max` is kept for the next segments. The old buffer is zeroed when replaced
 * (it may hold plaintext).
 */
export function growPartial(current: Buffer | undefined, fill: number, need: number, max: number): Buffer {
  if (current && current.length >= need) return current;
  const size = Math.min(max, Math.max(need, MIN_PARTIAL_BYTES, 2 * (current?.length ?? 0)));
  const next = Buffer.allocUnsafe(size);
  if (current) {
    current.copy(next, 0, 0, fill);
    current.fill(0);
  }
  return next;
}

const MIN_PARTIAL_BYTES = 4096;
