import { growPartial } from './segment-buffer.js';
import { randomFillSync } from 'node:crypto';
import { limitExceeded, UnwrapdError } from '../errors.js';
import { kwpWrap } from './aes-kwp.js';
import { encodeContext, type EncryptionContext } from './encryption-context.js';
import { DATA_KEY_LENGTH, NONCE_LENGTH, validateRef, type EnvelopeRef } from './envelope-format.js';
import { sealOne } from './segment-cipher.js';
import { completeHeader, CONTENT_KEY_LENGTH, deriveSegmentKeys } from './segment-keys.js';
import {
  CURRENT_SEGMENTED_VERSION,
  layoutSegmentedHeader,
  MAX_SEGMENTS,
  MAX_STREAM_PLAINTEXT_BYTES,
  parseSegmentedHeader,
  requireSegmentSize,
  SEGMENTED_VERSION_1,
  SEGMENTED_VERSION_2,
  type SegmentedVersion,
} from './segmented-format.js';
import { secretBuffer, type SecretKey } from './secret-key.js';

/** Called synchronously before every segment is sealed or opened: the policy state check of the core. */
export type SegmentCheck = () => void;

export interface SegmentSealerParams {
  ref: EnvelopeRef;
  kek: SecretKey;
  context: EncryptionContext;
  segmentSize: number;
  /** Runs before each segment is sealed (may throw to stop the stream, e.g. on revocation). */
  beforeSegment?: SegmentCheck;
  /** Injectable randomness (test vectors): random(32) for the data key, then random(12) for the nonce. */
  random?: (n: number) => Buffer;
  /**
   * The format version to write: 2 (the default, what EncryptStream writes). 1 only reproduces the published
   * v1 vectors and tests the v1 reader; nothing in the daemon writes it.
   */
  formatVersion?: SegmentedVersion;
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
    const version = p.formatVersion ?? CURRENT_SEGMENTED_VERSION;
    if (version !== SEGMENTED_VERSION_1 && version !== SEGMENTED_VERSION_2)
      throw new UnwrapdError('internal', 'unknown segmented format version');
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
      if (dataKey.length !== DATA_KEY_LENGTH || nonce.length !== NONCE_LENGTH)
        throw new UnwrapdError('internal', 'random source returned the wrong number of bytes');
      // Lay the header out (commitment and header tag zero), derive the keys from it, then fill both in.
      const header = parseSegmentedHeader(
        layoutSegmentedHeader(version, p.ref, nonce, this.segmentSize, kwpWrap(p.kek, dataKey)),
      );
      if (!header) throw new UnwrapdError('internal', 'laid-out header does not parse');
      keys = deriveSegmentKeys(dataKey, header);
      completeHeader(keys, header);
      this.header = header.bytes;
      this.#contentKey = secretBuffer(CONTENT_KEY_LENGTH); // never the shared pool nor the V8 heap
      keys.copy(this.#contentKey, 0, 0, CONTENT_KEY_LENGTH);
      this.#aad = Buffer.concat([header.fixedHeader, context]);
    } finally {
      dataKey.fill(0);
      keys?.fill(0);
    }
    this.#nonce = nonce;
    this.#check = p.beforeSegment;
  }

  /** Plaintext bytes held (less than one segment), for memory accounting. */
  get bufferedBytes(): number {
    return this.#fill;
  }

  /** Bytes allocated for the segment in progress (its buffer's capacity), for the stream buffer budget. */
  get allocatedBytes(): number {
    return this.#partial?.length ?? 0;
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
    if (this.#total + chunk.length > MAX_STREAM_PLAINTEXT_BYTES)
      throw limitExceeded(
        `a stream carries at most ${MAX_STREAM_PLAINTEXT_BYTES} bytes`,
        'maxStreamBytes',
        MAX_STREAM_PLAINTEXT_BYTES,
        'invalid_argument',
      );
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
    if (!last && plaintext.length !== this.segmentSize)
      throw new UnwrapdError('internal', 'a non-final segment must be full');
    if (last && plaintext.length >= this.segmentSize)
      throw new UnwrapdError('internal', 'the final segment must be shorter than a full segment');
    this.#check?.();
    return sealOne(key, this.#nonce, this.#aad, index, last, plaintext);
  }

  #next(plaintext: Uint8Array): [Buffer, Buffer] {
    if (this.#index >= MAX_SEGMENTS - 1)
      throw limitExceeded(
        `a stream has at most ${MAX_SEGMENTS} segments`,
        'maxSegments',
        MAX_SEGMENTS,
        'invalid_argument',
      );
    const out = this.#sealParts(this.#index, plaintext, false);
    this.#index++;
    return out;
  }
}
