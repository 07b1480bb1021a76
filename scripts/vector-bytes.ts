import { createHash } from 'node:crypto';
import { segmentNonce } from '../src/crypto/segmented.js';
import type { SegmentedPositiveVector } from './vector-types.js';

/**
 * The byte-level pieces the vector generators share: fixed "random" inputs, the randomness they are fed to
 * the sealers through, and (for the segmented formats, v1 and v2 alike) the segment layout of an envelope and
 * the edits the negative vectors are made of.
 */

/**
 * `fixedBytes(label, n)`: n bytes derived from a label, SHA-256(`domain` || " " || label || "#" || i)
 * concatenated. Each generator has its own domain, so its inputs stay what its published file holds.
 */
export function fixedBytesIn(domain: string): (label: string, n: number) => Buffer {
  return (label, n) => {
    const parts: Buffer[] = [];
    for (let i = 0, have = 0; have < n; i++) {
      const d = createHash('sha256').update(`${domain} ${label}#${i}`).digest();
      parts.push(d);
      have += d.length;
    }
    return Buffer.concat(parts).subarray(0, n);
  };
}

/**
 * A sealer's randomness that hands out `values` in order, each exactly once and of the size asked for
 * (anything else throws). Give copies: the sealers zero the data key they are given.
 */
export function queuedRandom(values: Buffer[]): (n: number) => Buffer {
  const queue = [...values];
  return (n) => {
    const b = queue.shift();
    if (!b || b.length !== n) throw new Error('unexpected randomness request');
    return b;
  };
}

type Segments = SegmentedPositiveVector['derived']['segments'];

/**
 * Where each segment of a segmented envelope stands (GCM nonce, last flag, offset, length), from the
 * plaintext length and segment size: full segments, then a final one of the rest (empty if it divides).
 * Throws if they do not end exactly where `envelopeLength` does.
 */
export function segmentLayout(
  nonce: Buffer,
  headerLength: number,
  plaintextLength: number,
  segmentSize: number,
  envelopeLength: number,
): Segments {
  const segments: Segments = [];
  const count = Math.floor(plaintextLength / segmentSize) + 1;
  let offset = headerLength;
  for (let i = 0; i < count; i++) {
    const last = i === count - 1;
    const length = (last ? plaintextLength - i * segmentSize : segmentSize) + 16;
    segments.push({ nonce: segmentNonce(nonce, i, last).toString('hex'), last, offset, length });
    offset += length;
  }
  if (offset !== envelopeLength) throw new Error('segment layout mismatch');
  return segments;
}

/** A positive vector's envelope as its header and segments (views of one buffer). */
export function splitSegmented(v: SegmentedPositiveVector): { header: Buffer; segments: Buffer[] } {
  const env = Buffer.from(v.envelope, 'hex');
  return {
    header: env.subarray(0, v.derived.headerLength),
    segments: v.derived.segments.map((s) => env.subarray(s.offset, s.offset + s.length)),
  };
}

export const hex = (...parts: Buffer[]): string => Buffer.concat(parts).toString('hex');

/** A copy of `b` with byte `i` xored with `mask`. */
export function flip(b: Buffer, i: number, mask: number): Buffer {
  const c = Buffer.from(b);
  c[i] = (c[i] as number) ^ mask;
  return c;
}
