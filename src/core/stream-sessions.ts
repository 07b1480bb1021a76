import type { SegmentOpener, SegmentSealer } from '../crypto/segmented.js';
import type { SegmentedHeader } from '../crypto/segmented-format.js';
import { decryptionFailed, UnwrapdError } from '../errors.js';

/**
 * The two kinds of stream session the stream service (src/core/stream-service.ts) opens: each owns its
 * segment sealer or opener (and through it the stream's content key), its hold in the key leases, and the
 * way a Revoke ends it from outside.
 */

/** What the stream service counts of each open stream. */
export interface StreamSession {
  readonly bufferedBytes: number;
  /** What the session's input buffers take in memory (capacity), charged to the stream buffer budget. */
  readonly heldBytes: number;
  readonly keyAlive: boolean;
}

/** One EncryptStream: header first, then push() plaintext, then final(); close() always (in a finally). */
export class EncryptStreamSession implements StreamSession {
  readonly #sealer: SegmentSealer;
  readonly keyVersion: number;
  readonly #end: (outcome: 'completed' | 'failed') => void;
  readonly #ending: Ending;
  #completed = false;

  constructor(
    sealer: SegmentSealer,
    keyVersion: number,
    register: (s: StreamSession) => (outcome: 'completed' | 'failed') => void,
    onEnded?: (err: unknown) => void,
  ) {
    this.#sealer = sealer;
    this.keyVersion = keyVersion;
    this.#end = register(this);
    this.#ending = new Ending(onEnded);
  }

  /** The release of the stream's hold in the key leases (called once the stream is closed). */
  held(release: () => void): void {
    this.#ending.held(release);
  }

  /** Ends the stream from outside (a Revoke): zeroizes its key and buffers at once and tells `onEnded`. */
  abort(err: unknown): void {
    this.#ending.abort(err, () => this.#sealer.destroy());
  }

  get header(): Buffer {
    return this.#sealer.header;
  }

  get bufferedBytes(): number {
    return this.#sealer.bufferedBytes;
  }

  /** Memory the session holds for its input: the capacity of the segment buffer, not just its fill. */
  get heldBytes(): number {
    return this.#sealer.allocatedBytes;
  }

  get keyAlive(): boolean {
    return !this.#sealer.destroyed;
  }

  /**
   * Yields each sealed segment as soon as it is complete, as [ciphertext, tag] (the segment is the two
   * concatenated); the policy is checked before each.
   */
  push(chunk: Uint8Array): Generator<[Buffer, Buffer], void, undefined> {
    return this.#sealer.pushParts(chunk);
  }

  /** The final segment, as [ciphertext, tag]; the stream is complete once it has been sent. */
  final(): [Buffer, Buffer] {
    const out = this.#sealer.finalParts();
    this.#completed = true;
    return out;
  }

  /** Zeroizes the stream's key and buffers. Idempotent. */
  close(): void {
    this.#sealer.destroy();
    this.#ending.release();
    this.#end(this.#completed ? 'completed' : 'failed');
  }
}

/** One DecryptStream: readHeader() until it gives the first segment bytes, then push(), final(), close(). */
export class DecryptStreamSession implements StreamSession {
  readonly #opener: SegmentOpener;
  readonly #end: (outcome: 'completed' | 'failed') => void;
  readonly #unlock: (header: SegmentedHeader) => Promise<void>;
  readonly #ending: Ending;
  #ready = false;
  #completed = false;

  constructor(
    opener: SegmentOpener,
    register: (s: StreamSession) => (outcome: 'completed' | 'failed') => void,
    unlock: (header: SegmentedHeader) => Promise<void>,
    onEnded?: (err: unknown) => void,
  ) {
    this.#opener = opener;
    this.#unlock = unlock;
    this.#end = register(this);
    this.#ending = new Ending(onEnded);
  }

  /** The release of the stream's hold in the key leases (called once the stream is closed). */
  held(release: () => void): void {
    this.#ending.held(release);
  }

  /** Ends the stream from outside (a Revoke): zeroizes its key and buffers at once and tells `onEnded`. */
  abort(err: unknown): void {
    this.#ending.abort(err, () => this.#opener.destroy());
  }

  get ready(): boolean {
    return this.#ready;
  }

  get header(): SegmentedHeader | undefined {
    return this.#opener.header;
  }

  get bufferedBytes(): number {
    return this.#opener.bufferedBytes;
  }

  /** Memory the session holds for its input: a header in progress and the segment buffer's capacity. */
  get heldBytes(): number {
    return this.#opener.heldBytes;
  }

  get keyAlive(): boolean {
    return this.#ready && !this.#opener.destroyed;
  }

  /**
   * Feeds the first envelope bytes. Once the header is complete: checks the tenant and the policy, unwraps the
   * data key and returns the bytes past the header (to push()); until then returns undefined.
   */
  async readHeader(chunk: Uint8Array): Promise<Buffer | undefined> {
    const read = this.#opener.readHeader(chunk);
    if (!read) return undefined;
    await this.#unlock(read.header);
    this.#ready = true;
    return read.rest;
  }

  /** Yields the plaintext of each full segment once its tag verified; the policy is checked before each. */
  push(chunk: Uint8Array): Generator<Buffer, void, undefined> {
    if (!this.#ready) throw new UnwrapdError('internal', 'push before the header');
    return this.#opener.push(chunk);
  }

  /** At the end of the input: the final segment's plaintext (missing or cut short: the generic failure). */
  final(): Buffer {
    if (!this.#ready) throw decryptionFailed(); // the input ended inside the header
    const out = this.#opener.final();
    this.#completed = true;
    return out;
  }

  close(): void {
    this.#opener.destroy();
    this.#ending.release();
    this.#end(this.#completed ? 'completed' : 'failed');
  }
}

/** A session's end from outside: its hold in the key leases, and whom to tell when a change ends it. */
class Ending {
  readonly #onEnded: ((err: unknown) => void) | undefined;
  #release: (() => void) | undefined;
  #ended = false;
  #closed = false;

  constructor(onEnded: ((err: unknown) => void) | undefined) {
    this.#onEnded = onEnded;
  }

  held(release: () => void): void {
    // Closed meanwhile (the client went away while the key was fetched): nothing to hold.
    if (this.#closed) release();
    else this.#release = release;
  }

  abort(err: unknown, destroy: () => void): void {
    if (this.#ended) return;
    this.#ended = true;
    destroy();
    this.#onEnded?.(err);
  }

  release(): void {
    this.#ended = true;
    this.#closed = true;
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}
