import { createCipheriv } from 'node:crypto';
import { decryptionFailed } from '../errors.js';
import { gcmOpen } from './aes-gcm.js';
import { TAG_LENGTH } from './envelope-format.js';
import { segmentNonce } from './segment-keys.js';

/**
 * One segment's AES-256-GCM: iv = segmentNonce(nonce, index, last), AAD = fixed header || encoded context
 * (the same for every segment of a stream). No unauthenticated plaintext ever leaves openOne.
 */

const GCM = 'aes-256-gcm';

/** Seals one segment: its ciphertext and tag, as two buffers (concatenated, they are the segment). */
export function sealOne(
  contentKey: Buffer,
  nonce: Buffer,
  aad: Buffer,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
): [Buffer, Buffer] {
  const cipher = createCipheriv(GCM, contentKey, segmentNonce(nonce, index, last), { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const ct = cipher.update(plaintext);
  const tail = cipher.final(); // empty for GCM
  const tag = cipher.getAuthTag();
  return [tail.length === 0 ? ct : Buffer.concat([ct, tail]), tag];
}

/** Opens one segment (ciphertext || tag) through gcmOpen: any failure is the generic error, and no plaintext is kept. */
export function openOne(
  contentKey: Buffer,
  nonce: Buffer,
  aad: Buffer,
  index: number,
  last: boolean,
  segment: Uint8Array,
): Buffer {
  if (segment.length < TAG_LENGTH) throw decryptionFailed();
  const ctLen = segment.length - TAG_LENGTH;
  return gcmOpen(
    contentKey,
    segmentNonce(nonce, index, last),
    [aad],
    segment.subarray(0, ctLen),
    segment.subarray(ctLen),
  );
}
