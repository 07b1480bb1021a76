import { createCipheriv, createDecipheriv, randomFillSync, timingSafeEqual, type DecipherGCM } from 'node:crypto';
import { decryptionFailed, invalidArgument, UnwrapdError } from '../errors.js';
import { kwpUnwrap, kwpWrap } from './aes-kwp.js';
import { hkdfSha256 } from './hkdf.js';
import { encodeContext, type EncryptionContext } from './encryption-context.js';
import { COMMITMENT_LENGTH, DATA_KEY_LENGTH, NONCE_LENGTH, TAG_LENGTH, validateRef, type EnvelopeRef } from './envelope-format.js';
import {
  MAX_SEGMENTS,
  MAX_STREAM_PLAINTEXT_BYTES,
  parseSegmentedHeader,
  requireSegmentSize,
  writeSegmentedHeader,
  type SegmentedHeader,
} from './segmented-format.js';
import { growPartial } from './segment-buffer.js';
import { secretBuffer, type SecretKey } from './secret-key.js';

/**
 * Seal and open of segmented (stream) envelopes, one segment at a time, in bounded memory (layout in
 * segmented-format.ts, spec in docs/envelope-format.md "Segmented envelopes"):
 *
 *   DK  = 32 random bytes, one stream only;  nonce = 12 random bytes
 *   (contentKey || commitment) = HKDF-SHA256(ikm = DK, salt = nonce, info = "unwrapd/v1 segment keys", L = 64)
 *   wrapped DK = AES-KWP(KEK, DK)                    (KEK as for single blocks)
 *   iv_i = nonce XOR (0x00 * 7 || u32be(i) || u8(last ? 1 : 0))
 *   segment_i = AES-256-GCM(contentKey, iv_i, AAD = fixedHeader || encodeContext(context), plaintext_i)
 *
 * Every non-final segment carries exactly segmentSize plaintext bytes; the final one carries fewer (0 ..
 * segmentSize-1), so a reader never needs to look ahead: a full segment is never the last. Reordering,
 * duplication or dropping a segment changes the index its nonce was made with; truncation at a segment
 * boundary leaves no final segment; cutting a segment short or appending bytes breaks a tag.
 */

const SEGMENT_KEYS_INFO = Buffer.from('unwrapd/v1 segment keys', 'latin1');
const GCM = 'aes-256-gcm';
const KEY_LENGTH = 32;

/** Called synchronously before every segment is sealed or opened: the policy state check of the core. */
export type SegmentCheck = () => void;

/** The GCM nonce of segment `index`: the header nonce with the index and the last-segment flag XORed into its last 5 bytes. */
export function segmentNonce(nonce: Uint8Array, index: number, last: boolean): Buffer {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SEGMENTS) throw new UnwrapdError('internal', 'segment index out of range');
  const iv = Buffer.from(nonce);
  iv[7] = (iv[7] as number) ^ ((index >>> 24) & 0xff);
  iv[8] = (iv[8] as number) ^ ((index >>> 16) & 0xff);
  iv[9] = (iv[9] as number) ^ ((index >>> 8) & 0xff);
  iv[10] = (iv[10] as number) ^ (index & 0xff);
  iv[11] = (iv[11] as number) ^ (last ? 1 : 0);
  return iv;
}

/**
 * HKDF-SHA256(DK, salt = nonce, info = "unwrapd/v1 segment keys", 64): [0,32) content key, [32,64) commitment.
 * Through src/crypto/hkdf.ts, never hkdfSync (whose KeyObject would keep the data key until GC). Zero it after use.
 */
export function deriveSegmentKeys(dataKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdfSha256(dataKey, nonce, SEGMENT_KEYS_INFO, KEY_LENGTH + COMMITMENT_LENGTH);
}

/** Seals one segment: its ciphertext and tag, as two buffers (concatenated, they are the segment). */
function sealOne(contentKey: Buffer, nonce: Buffer, aad: Buffer, index: number, last: boolean, plaintext: Uint8Array): [Buffer, Buffer] {
  const cipher = createCipheriv(GCM, contentKey, segmentNonce(nonce, index, last), { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const ct = cipher.update(plaintext);
  const tail = cipher.final(); // empty for GCM
  const tag = cipher.getAuthTag();
  return [tail.length === 0 ? ct : Buffer.concat([ct, tail]), tag];
}

function openOne(contentKey: Buffer, nonce: Buffer, aad: Buffer, index: number, last: boolean, segment: Uint8Array): Buffer {
  if (segment.length < TAG_LENGTH) throw decryptionFailed();
  const ctLen = segment.length - TAG_LENGTH;
  let pt: Buffer | undefined;
  let decipher: DecipherGCM | undefined;
  try {
    decipher = createDecipheriv(GCM, contentKey, segmentNonce(nonce, index, last), { authTagLength: TAG_LENGTH });
    decipher.setAAD(aad);
    decipher.setAuthTag(segment.subarray(ctLen));
    pt = decipher.update(segment.subarray(0, ctLen));
    const tail = decipher.final(); // throws on a tag mismatch
    return tail.length === 0 ? pt : Buffer.concat([pt, tail]);
  } catch {
    pt?.fill(0); // never let unauthenticated plaintext linger
    try {
      decipher?.final(); // frees the native context (and the content key in it) now, not at garbage collection
    } catch {
      // freed either way
    }
    throw decryptionFailed();
  }
}

export interface SegmentSealerParams {
  ref: EnvelopeRef;
  kek: SecretKey;
  context: EncryptionContext;
  segmentSize: number;
  /** Runs before each segment is sealed (may throw to stop the stream, e.g. on revocation). */
  beforeSegment?: SegmentCheck;
  /** Injectable randomness (test vectors): random(32) for the data key, then random(12) for the nonce. */
  random?: (n: number) => Buffer;
}

/**
 * Encrypts one stream. The KEK is used only in the constructor (to wrap the data key); afterwards the sealer
 * holds only the stream's content key, zeroized by destroy(). Memory: one segment of plaintext at most.
 */
export class SegmentSealer {
  readonly header: Buffer;
  readonly segmentSize: number;
  readonly #nonce: Buffer;
  readonly #aad: Buffer;
  readonly #check: SegmentCheck | undefined;
  #contentKey: Buffer | undefined;
  #partial: Buffer | undefined;
  #fill = 0;
  #index = 0;
  #total = 0;
  #finished = false;

  constructor(p: SegmentSealerParams) {
    validateRef(p.ref);
    this.segmentSize = requireSegmentSize(p.segmentSize);
    const context = encodeContext(p.context); // validates (invalidArgument)
    p.kek.expose(); // fail before consuming randomness if the key was destroyed
    let dataKey: Buffer;
    let nonce: Buffer;
    if (p.random === undefined) {
      const r = randomFillSync(secretBuffer(DATA_KEY_LENGTH + NONCE_LENGTH));
      dataKey = r.subarray(0, DATA_KEY_LENGTH);
      nonce = Buffer.from(r.subarray(DATA_KEY_LENGTH));
    } else {
      dataKey = p.random(DATA_KEY_LENGTH);
      nonce = Buffer.from(p.random(NONCE_LENGTH));
    }
    let keys: Buffer | undefined;
    try {
      if (dataKey.length !== DATA_KEY_LENGTH || nonce.length !== NONCE_LENGTH) throw new UnwrapdError('internal', 'random source returned the wrong number of bytes');
      keys = deriveSegmentKeys(dataKey, nonce);
      const wrapped = kwpWrap(p.kek, dataKey);
      this.header = writeSegmentedHeader(p.ref, nonce, keys.subarray(KEY_LENGTH), this.segmentSize, wrapped);
      this.#contentKey = secretBuffer(KEY_LENGTH); // never the shared pool nor the V8 heap
      keys.copy(this.#contentKey, 0, 0, KEY_LENGTH);
    } finally {
      dataKey.fill(0);
      keys?.fill(0);
    }
    this.#nonce = nonce;
    const fixedLen = this.header.length - (47 + p.ref.policyId.length);
    this.#aad = Buffer.concat([this.header.subarray(0, fixedLen), context]);
    this.#check = p.beforeSegment;
  }

  /** Plaintext bytes held (less than one segment), for memory accounting. */
  get bufferedBytes(): number {
    return this.#fill;
  }

  get segmentsSealed(): number {
    return this.#index;
  }

  get destroyed(): boolean {
    return this.#contentKey === undefined;
  }

  /**
   * Low level: seals segment `index` as given. The streaming API below calls it in order; tests call it to
   * build reordered, duplicated or truncated streams.
   */
  sealSegment(index: number, plaintext: Uint8Array, last: boolean): Buffer {
    return Buffer.concat(this.#sealParts(index, plaintext, last));
  }

  /** Feeds plaintext; yields each full segment as soon as it is complete (lazily: one per step). */
  *push(chunk: Uint8Array): Generator<Buffer, void, undefined> {
    for (const parts of this.pushParts(chunk)) yield Buffer.concat(parts);
  }

  /** As push(), each segment as its [ciphertext, tag] (the caller joins them, or sends them on as they are). */
  *pushParts(chunk: Uint8Array): Generator<[Buffer, Buffer], void, undefined> {
    if (this.#finished) throw new UnwrapdError('internal', 'stream already finished');
    if (this.#total + chunk.length > MAX_STREAM_PLAINTEXT_BYTES) throw invalidArgument(`a stream carries at most ${MAX_STREAM_PLAINTEXT_BYTES} bytes`);
    this.#total += chunk.length;
    const size = this.segmentSize;
    let off = 0;
    if (this.#fill > 0) {
      const n = Math.min(size - this.#fill, chunk.length);
      const partial = (this.#partial = growPartial(this.#partial, this.#fill, this.#fill + n, size));
      partial.set(chunk.subarray(0, n), this.#fill);
      this.#fill += n;
      off = n;
      if (this.#fill < size) return;
      yield this.#next(partial);
      this.#fill = 0;
    }
    // Whole segments straight from the chunk: no copy.
    while (chunk.length - off >= size) {
      yield this.#next(chunk.subarray(off, off + size));
      off += size;
    }
    if (off < chunk.length) {
      this.#partial = growPartial(this.#partial, 0, chunk.length - off, size); // sized by the bytes held, not the segment
      this.#partial.set(chunk.subarray(off), 0);
      this.#fill = chunk.length - off;
    }
  }

  /** Seals the final segment (the bytes held, possibly none) and ends the stream. */
  final(): Buffer {
    return Buffer.concat(this.finalParts());
  }

  finalParts(): [Buffer, Buffer] {
    if (this.#finished) throw new UnwrapdError('internal', 'stream already finished');
    const rest = this.#partial ? this.#partial.subarray(0, this.#fill) : Buffer.alloc(0);
    const out = this.#sealParts(this.#index, rest, true);
    this.#finished = true;
    this.#partial?.fill(0);
    this.#fill = 0;
    return out;
  }

  /** Zeroizes the content key and any plaintext held. Idempotent. */
  destroy(): void {
    this.#contentKey?.fill(0);
    this.#contentKey = undefined;
    this.#partial?.fill(0);
    this.#partial = undefined;
    this.#fill = 0;
  }

  #sealParts(index: number, plaintext: Uint8Array, last: boolean): [Buffer, Buffer] {
    const key = this.#contentKey;
    if (!key) throw new Error('SegmentSealer used after destroy');
    if (!last && plaintext.length !== this.segmentSize) throw new UnwrapdError('internal', 'a non-final segment must be full');
    if (last && plaintext.length >= this.segmentSize) throw new UnwrapdError('internal', 'the final segment must be shorter than a full segment');
    this.#check?.();
    return sealOne(key, this.#nonce, this.#aad, index, last, plaintext);
  }

  #next(plaintext: Uint8Array): [Buffer, Buffer] {
    if (this.#index >= MAX_SEGMENTS - 1) throw invalidArgument(`a stream has at most ${MAX_SEGMENTS} segments`);
    const out = this.#sealParts(this.#index, plaintext, false);
    this.#index++;
    return out;
  }
}

export interface SegmentOpenerParams {
  context: EncryptionContext;
  /** Runs before each segment is opened (may throw to stop the stream, e.g. on revocation). */
  beforeSegment?: SegmentCheck;
}

/**
 * Decrypts one stream: readHeader() until it returns the header, unlock() with the KEK of the header's
 * policy version, then push() the rest (first the bytes readHeader() returned) and final() at the end. Envelope bytes may arrive in any split.
 * Plaintext is released segment by segment, each only after its tag verified; the stream as a whole is
 * authentic only once final() returned (a reader must discard the output of a stream that failed).
 * Memory: one segment of ciphertext at most.
 */
export class SegmentOpener {
  readonly #aadContext: Buffer;
  readonly #check: SegmentCheck | undefined;
  #head: Buffer = Buffer.alloc(0);
  #header: SegmentedHeader | undefined;
  #contentKey: Buffer | undefined;
  #nonce: Buffer | undefined;
  #aad: Buffer | undefined;
  #partial: Buffer | undefined;
  #fill = 0;
  #index = 0;
  #finished = false;
  #destroyed = false;

  constructor(p: SegmentOpenerParams) {
    this.#aadContext = encodeContext(p.context); // validates (invalidArgument)
    this.#check = p.beforeSegment;
  }

  get header(): SegmentedHeader | undefined {
    return this.#header;
  }

  get bufferedBytes(): number {
    return this.#fill + this.#head.length;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Feeds the first bytes of the envelope. Returns the parsed header and the bytes past it (to push() after
   * unlock()) once the header is complete, else undefined (feed more). Malformed input throws the generic
   * decryptionFailed() as early as it can be told.
   */
  readHeader(chunk: Uint8Array): { header: SegmentedHeader; rest: Buffer } | undefined {
    if (this.#header) throw new UnwrapdError('internal', 'header already read');
    const bytes = this.#head.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.#head, chunk]);
    const header = parseSegmentedHeader(bytes);
    if (!header) {
      this.#head = Buffer.from(bytes); // shorter than a header (< 229 bytes): an own copy
      return undefined;
    }
    // Own the header bytes (the chunk belongs to the transport); the rest stays a view.
    this.#header = parseSegmentedHeader(Buffer.from(header.bytes)) as SegmentedHeader;
    this.#head = Buffer.alloc(0);
    return { header: this.#header, rest: bytes.subarray(header.bytes.length) };
  }

  /** Unwraps the data key with the KEK of the header's ref and checks the commitment. */
  unlock(kek: SecretKey): void {
    const header = this.#header;
    if (!header) throw new UnwrapdError('internal', 'unlock before the header');
    if (this.#contentKey) throw new UnwrapdError('internal', 'already unlocked');
    const dataKey = kwpUnwrap(kek, header.wrappedKey); // decryptionFailed on integrity failure
    let keys: Buffer | undefined;
    try {
      if (dataKey.length !== DATA_KEY_LENGTH) throw decryptionFailed();
      keys = deriveSegmentKeys(dataKey, header.nonce);
      if (!timingSafeEqual(keys.subarray(KEY_LENGTH), header.commitment)) throw decryptionFailed();
      this.#contentKey = secretBuffer(KEY_LENGTH);
      keys.copy(this.#contentKey, 0, 0, KEY_LENGTH);
    } finally {
      dataKey.fill(0);
      keys?.fill(0);
    }
    this.#nonce = header.nonce;
    this.#aad = Buffer.concat([header.fixedHeader, this.#aadContext]);
  }

  /** Low level: opens segment `index` as given (tests). */
  openSegment(index: number, segment: Uint8Array, last: boolean): Buffer {
    const key = this.#contentKey;
    if (!key) throw new Error('SegmentOpener used before unlock or after destroy');
    this.#check?.();
    return openOne(key, this.#nonce as Buffer, this.#aad as Buffer, index, last, segment);
  }

  /** Feeds envelope bytes after the header; yields the plaintext of each full (non-final) segment. */
  *push(chunk: Uint8Array): Generator<Buffer, void, undefined> {
    if (this.#finished) throw decryptionFailed(); // bytes after the final segment
    const header = this.#header;
    if (!header || !this.#contentKey) throw new Error('SegmentOpener.push before unlock or after destroy');
    const full = header.segmentSize + TAG_LENGTH;
    let off = 0;
    if (this.#fill > 0) {
      const n = Math.min(full - this.#fill, chunk.length);
      const partial = (this.#partial = growPartial(this.#partial, this.#fill, this.#fill + n, full));
      partial.set(chunk.subarray(0, n), this.#fill);
      this.#fill += n;
      off = n;
      if (this.#fill < full) return;
      const pt = this.#next(partial);
      this.#fill = 0;
      yield pt;
    }
    while (chunk.length - off >= full) {
      const pt = this.#next(chunk.subarray(off, off + full));
      off += full;
      yield pt;
    }
    if (off < chunk.length) {
      // Sized by the bytes that arrived, not by the header's segment size: an idle stream costs what it sent.
      this.#partial = growPartial(this.#partial, 0, chunk.length - off, full);
      this.#partial.set(chunk.subarray(off), 0);
      this.#fill = chunk.length - off;
    }
  }

  /** At the end of the input: opens the final segment (the bytes held). Missing or short: decryptionFailed. */
  final(): Buffer {
    if (this.#finished) throw decryptionFailed();
    if (!this.#header) throw decryptionFailed(); // the input ended inside the header
    if (this.#fill < TAG_LENGTH) throw decryptionFailed(); // truncated at a segment boundary, or inside a tag
    const pt = this.openSegment(this.#index, (this.#partial as Buffer).subarray(0, this.#fill), true);
    this.#finished = true;
    this.#fill = 0;
    return pt;
  }

  destroy(): void {
    this.#contentKey?.fill(0);
    this.#contentKey = undefined;
    this.#partial = undefined;
    this.#fill = 0;
    this.#destroyed = true;
  }

  #next(segment: Uint8Array): Buffer {
    if (this.#index >= MAX_SEGMENTS - 1) throw decryptionFailed();
    const pt = this.openSegment(this.#index, segment, false);
    this.#index++;
    return pt;
  }
}

/** Whole-buffer seal (test vectors, tests, small tools): header || segments. */
export function sealSegmented(p: SegmentSealerParams & { plaintext: Uint8Array }): Buffer {
  const sealer = new SegmentSealer(p);
  try {
    const parts = [sealer.header, ...sealer.push(p.plaintext), sealer.final()];
    return Buffer.concat(parts);
  } finally {
    sealer.destroy();
  }
}

/** Whole-buffer open: `kekFor` gives the KEK for the ref found in the header (the caller owns and destroys it). */
export function openSegmented(envelope: Uint8Array, kekFor: (ref: EnvelopeRef) => SecretKey, context: EncryptionContext): Buffer {
  const opener = new SegmentOpener({ context });
  try {
    const read = opener.readHeader(envelope);
    if (!read) throw decryptionFailed();
    opener.unlock(kekFor(read.header));
    const parts = [...opener.push(read.rest), opener.final()];
    return Buffer.concat(parts);
  } finally {
    opener.destroy();
  }
}
