import { growPartial } from './segment-buffer.js';
import { decryptionFailed, UnwrapdError } from '../errors.js';
import { kwpUnwrap } from './aes-kwp.js';
import { encodeContext, type EncryptionContext } from './encryption-context.js';
import { DATA_KEY_LENGTH, TAG_LENGTH } from './envelope-format.js';
import { openOne } from './segment-cipher.js';
import { CONTENT_KEY_LENGTH, deriveSegmentKeys, verifyHeader } from './segment-keys.js';
import type { SegmentCheck } from './segment-sealer.js';
import {
  MAX_SEGMENT_BYTES,
  MAX_SEGMENTS,
  MIN_SEGMENT_BYTES,
  parseSegmentedHeader,
  type SegmentedHeader,
} from './segmented-format.js';
import { secretBuffer, type SecretKey } from './secret-key.js';

export interface SegmentOpenerParams {
  context: EncryptionContext;
  /** Runs before each segment is opened (may throw to stop the stream, e.g. on revocation). */
  beforeSegment?: SegmentCheck;
  /**
   * The largest segment size this reader accepts, whatever a header says (default and upper bound: the
   * format's 4 MiB). A header announcing more is refused (invalidArgument) before anything is unwrapped or
   * allocated.
   */
  maxSegmentBytes?: number;
}

/**
 * Decrypts one stream: readHeader() until it returns the header, unlock() with the KEK of the header's
 * policy version, then push() the rest (first the bytes readHeader() returned) and final() at the end.
 * Envelope bytes may arrive in any split.
 *
 * Order of checks: the header is parsed strictly (its segment size capped at maxSegmentBytes); unlock()
 * unwraps the data key and verifies the whole header (v2: commitment over the fixed header and header tag over
 * the wrap section; v1: the commitment) in constant time; only then is any segment read. The segment buffer is
 * never sized from the header: it grows with the bytes that actually arrive (at most one segment).
 * Plaintext is released segment by segment, each only after its tag verified; the stream as a whole is
 * authentic only once final() returned (a reader must discard the output of a stream that failed).
 */
export class SegmentOpener {
  readonly #aadContext: Buffer;
  readonly #check: SegmentCheck | undefined;
  readonly #maxSegmentBytes: number;
  #head: Buffer = Buffer.alloc(0);
  #header: SegmentedHeader | undefined;
  #contentKey: Buffer | undefined;
  #aad: Buffer | undefined;
  #partial: Buffer | undefined;
  #fill = 0;
  #index = 0;
  #finished = false;
  #destroyed = false;

  constructor(p: SegmentOpenerParams) {
    this.#aadContext = encodeContext(p.context); // validates (invalidArgument)
    this.#check = p.beforeSegment;
    const max = p.maxSegmentBytes ?? MAX_SEGMENT_BYTES;
    if (!Number.isInteger(max) || max < MIN_SEGMENT_BYTES || max > MAX_SEGMENT_BYTES)
      throw new UnwrapdError('internal', 'maxSegmentBytes out of range');
    this.#maxSegmentBytes = max;
  }

  get header(): SegmentedHeader | undefined {
    return this.#header;
  }

  /** Envelope bytes held now: a header in progress, or a segment in progress. */
  get bufferedBytes(): number {
    return this.#fill + this.#head.length;
  }

  /** Bytes allocated for segments in progress (grows with the input, never from the header). */
  get allocatedBytes(): number {
    return this.#partial?.length ?? 0;
  }

  /** Memory held for input: a header in progress and the segment buffer's capacity (the stream buffer budget). */
  get heldBytes(): number {
    return this.#head.length + this.allocatedBytes;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Feeds the first bytes of the envelope. Returns the parsed header and the bytes past it (to push() after
   * unlock()) once the header is complete, else undefined (feed more). Malformed input throws the generic
   * decryptionFailed() as early as it can be told; a segment size over the cap throws invalidArgument.
   */
  readHeader(chunk: Uint8Array): { header: SegmentedHeader; rest: Buffer } | undefined {
    if (this.#header) throw new UnwrapdError('internal', 'header already read');
    const bytes =
      this.#head.length === 0
        ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : Buffer.concat([this.#head, chunk]);
    const header = parseSegmentedHeader(bytes, this.#maxSegmentBytes);
    if (!header) {
      this.#head = Buffer.from(bytes); // shorter than a header (< 262 bytes): an own copy
      return undefined;
    }
    // Own the header bytes (the chunk belongs to the transport); the rest stays a view.
    this.#header = parseSegmentedHeader(Buffer.from(header.bytes), this.#maxSegmentBytes) as SegmentedHeader;
    this.#head = Buffer.alloc(0);
    return { header: this.#header, rest: bytes.subarray(header.bytes.length) };
  }

  /**
   * Unwraps the data key with the KEK of the header's ref and authenticates the whole header (commitment, and
   * in v2 the header tag, both in constant time). Any failure is the generic error and leaves the opener locked.
   */
  unlock(kek: SecretKey): void {
    const header = this.#header;
    if (!header) throw new UnwrapdError('internal', 'unlock before the header');
    if (this.#contentKey) throw new UnwrapdError('internal', 'already unlocked');
    if (this.#destroyed) throw new Error('SegmentOpener used after destroy');
    const dataKey = kwpUnwrap(kek, header.wrappedKey); // decryptionFailed on integrity failure
    let keys: Buffer | undefined;
    try {
      if (dataKey.length !== DATA_KEY_LENGTH) throw decryptionFailed();
      keys = deriveSegmentKeys(dataKey, header);
      verifyHeader(keys, header);
      this.#contentKey = secretBuffer(CONTENT_KEY_LENGTH);
      keys.copy(this.#contentKey, 0, 0, CONTENT_KEY_LENGTH);
    } finally {
      dataKey.fill(0);
      keys?.fill(0);
    }
    this.#aad = Buffer.concat([header.fixedHeader, this.#aadContext]);
  }

  /** Low level: opens segment `index` as given (tests). */
  openSegment(index: number, segment: Uint8Array, last: boolean): Buffer {
    const key = this.#contentKey;
    if (!key) throw new Error('SegmentOpener used before unlock or after destroy');
    this.#check?.();
    return openOne(key, (this.#header as SegmentedHeader).nonce, this.#aad as Buffer, index, last, segment);
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
      this.#append(chunk.subarray(0, n), full);
      off = n;
      if (this.#fill < full) return;
      const pt = this.#next((this.#partial as Buffer).subarray(0, full));
      this.#fill = 0;
      yield pt;
    }
    // Whole segments straight from the chunk: no copy.
    while (chunk.length - off >= full) {
      const pt = this.#next(chunk.subarray(off, off + full));
      off += full;
      yield pt;
    }
    if (off < chunk.length) this.#append(chunk.subarray(off), full);
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

  /**
   * Appends bytes of the segment in progress. The buffer grows with what arrived (growPartial: doubling, at most
   * one segment of `full` bytes): a header announcing 4 MiB segments costs nothing until 4 MiB are sent.
   */
  #append(bytes: Uint8Array, full: number): void {
    const need = this.#fill + bytes.length;
    this.#partial = growPartial(this.#partial, this.#fill, need, full);
    this.#partial.set(bytes, this.#fill);
    this.#fill = need;
  }

  #next(segment: Uint8Array): Buffer {
    if (this.#index >= MAX_SEGMENTS - 1) throw decryptionFailed();
    const pt = this.openSegment(this.#index, segment, false);
    this.#index++;
    return pt;
  }
}
