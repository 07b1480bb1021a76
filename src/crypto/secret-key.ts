import { inspect } from 'node:util';

const REDACTED = '[SecretKey redacted]';

/**
 * A zero-filled buffer for key bytes: a view of an ArrayBuffer of its own, so off Node's shared pool and off
 * the V8 heap. Buffer.alloc(n) for n <= 64 makes a typed array whose bytes live *inside* the V8 heap; the
 * first time native code (node:crypto) is handed it, V8 moves the bytes out and leaves the old ones behind
 * as unreachable, unzeroed garbage until the collector reuses that memory: a key copy no destroy() can
 * reach. Every buffer that will hold a key, a data key or a derived key starts here (test/key-residue.test.ts).
 */
export function secretBuffer(length: number): Buffer {
  return Buffer.from(new ArrayBuffer(length));
}

/**
 * Owns the bytes of one symmetric key. The bytes live in a buffer of their own (never a slice of Node's
 * shared pool), never print, and are zeroized in exactly one place: destroy(). The cache's dispose,
 * revocation and shutdown all end here.
 */
export class SecretKey {
  #bytes: Buffer;
  #destroyed = false;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** Copies `source` into a buffer of its own; when `zeroSource` is set, overwrites the source. */
  static copyFrom(source: Uint8Array, zeroSource = false): SecretKey {
    const own = secretBuffer(source.length); // never the shared pool, never inside the V8 heap
    own.set(source);
    if (zeroSource) source.fill(0);
    return new SecretKey(own);
  }

  get length(): number {
    return this.#bytes.length;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * The key bytes, for passing to node:crypto. Callers must not keep or copy the reference. Throws once
   * destroyed, so a key evicted mid-request can never be used afterwards.
   */
  expose(): Buffer {
    if (this.#destroyed) throw new Error('SecretKey used after destroy');
    return this.#bytes;
  }

  /** Overwrites the bytes with zeros. Idempotent. */
  destroy(): void {
    this.#bytes.fill(0);
    this.#destroyed = true;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
