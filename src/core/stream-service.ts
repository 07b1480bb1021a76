import { SegmentOpener, SegmentSealer } from '../crypto/segmented.js';
import { requireSegmentSize, type SegmentedHeader } from '../crypto/segmented-format.js';
import { decryptionFailed, UnwrapdError } from '../errors.js';
import type { SecretKey } from '../crypto/secret-key.js';
import type { EnvelopeRef } from '../crypto/envelope.js';
import type { CryptoService } from './crypto-service.js';
import type { CallerRequest, KeyLeases, KeyUse } from './key-lease.js';

export interface StreamServiceOptions {
  /** Plaintext bytes per segment of the envelopes EncryptStream writes (recorded in each header). */
  segmentBytes: number;
  /**
   * Response bytes a stream may have handed to the transport and not yet seen sent before it stops reading
   * its client (backpressure). Default: 4 segments.
   */
  maxPendingWriteBytes?: number;
  /** The largest segment size DecryptStream accepts, whatever a header says (default: the format's 4 MiB). */
  maxSegmentBytes?: number;
}

export interface StreamStats {
  /** Streams open now; each holds one content key. */
  open: number;
  /** Content keys alive now (equals `open`; 0 once every stream has ended, however it ended). */
  liveKeys: number;
  /** Key leases held by streams now: a lease is held only while a stream's header is made or read. */
  leases: number;
  /** Segment bytes held now: partial segments in stream buffers, plus responses not yet sent. */
  inFlightBytes: number;
  /** Response bytes handed to the transport and not yet sent, now and at most since start (or resetPeak()). */
  pendingWriteBytes: number;
  peakPendingWriteBytes: number;
  started: number;
  completed: number;
  failed: number;
}

interface Session {
  readonly bufferedBytes: number;
  /** What the session's input buffers take in memory (capacity), charged to the stream buffer budget. */
  readonly heldBytes: number;
  readonly keyAlive: boolean;
}

/**
 * EncryptStream and DecryptStream in the core: one segmented envelope per stream (src/crypto/segmented.ts),
 * one fresh data key per stream. The key lease (the policy version's KEK) is held only while the header is
 * made (to wrap the data key) or read (to unwrap it); afterwards a stream holds only its own content key,
 * zeroized when it ends, whatever the reason (done, failed, cancelled, deadline).
 *
 * Revocation: the policy's state is checked synchronously before every segment is sealed or opened (the
 * same check as a single block: registry state and the revocation gate), and every open stream is held in the
 * key leases (src/core/key-lease.ts), so a Revoke ends it at once, even idle: its key and buffers are zeroized
 * and `onEnded` is told (the handler ends the call with FAILED_PRECONDITION).
 */
export class StreamService {
  readonly #keys: KeyLeases;
  readonly segmentBytes: number;
  readonly maxPendingWriteBytes: number;
  readonly maxSegmentBytes: number | undefined;
  readonly #sessions = new Set<Session>();
  #leases = 0;
  #pending = 0;
  #peakPending = 0;
  #started = 0;
  #completed = 0;
  #failed = 0;

  constructor(crypto: CryptoService, opts: StreamServiceOptions) {
    this.#keys = crypto.leases;
    this.segmentBytes = requireSegmentSize(opts.segmentBytes);
    this.maxPendingWriteBytes = opts.maxPendingWriteBytes ?? 4 * (this.segmentBytes + 64);
    this.maxSegmentBytes = opts.maxSegmentBytes;
  }

  stats(): StreamStats {
    let buffered = 0;
    let keys = 0;
    for (const s of this.#sessions) {
      buffered += s.bufferedBytes;
      if (s.keyAlive) keys++;
    }
    return {
      open: this.#sessions.size,
      liveKeys: keys,
      leases: this.#leases,
      inFlightBytes: buffered + this.#pending,
      pendingWriteBytes: this.#pending,
      peakPendingWriteBytes: this.#peakPending,
      started: this.#started,
      completed: this.#completed,
      failed: this.#failed,
    };
  }

  resetPeak(): void {
    this.#peakPending = this.#pending;
  }

  /** The transport's accounting of response bytes written and not yet sent (src/server/stream-io.ts). */
  notePendingWrite(delta: number): void {
    this.#pending += delta;
    if (this.#pending > this.#peakPending) this.#peakPending = this.#pending;
  }

  /**
   * Starts an encryption: checks the policy, wraps a fresh data key, returns the session (header ready).
   * `onEnded`: told if a change of the policy (a Revoke) ends the stream before it is closed.
   */
  async openEncrypt(
    input: CallerRequest & { policyId: string; onEnded?: (err: unknown) => void },
  ): Promise<EncryptStreamSession> {
    const { tenant, policyId } = input;
    const policy = this.#keys.writable(tenant, policyId);
    const version = policy.activeVersion;
    const ref = { tenant, policyId, keyVersion: version };
    const check = () => void this.#keys.writable(tenant, policyId, version);
    return this.#withKey(ref, 'write', input, (kek) => {
      const sealer = new SegmentSealer({
        ref,
        kek,
        context: input.context,
        segmentSize: this.segmentBytes,
        beforeSegment: check,
      });
      const session = new EncryptStreamSession(sealer, version, this.#register.bind(this), input.onEnded);
      session.held(this.#keys.hold(tenant, policyId, { check, end: (err) => session.abort(err) }));
      return session;
    });
  }

  /**
   * Starts a decryption: the key is looked up once the envelope's header has arrived (DecryptStreamSession.readHeader).
   * `onEnded`: told if a change of the policy (a Revoke) ends the stream before it is closed.
   */
  openDecrypt(
    input: CallerRequest & { onEnded?: (err: unknown) => void; authorize?: (header: SegmentedHeader) => void },
  ): DecryptStreamSession {
    let check: (() => void) | undefined;
    const opener = new SegmentOpener({
      context: input.context, // validated here
      maxSegmentBytes: this.maxSegmentBytes,
      beforeSegment: () => {
        if (!check) throw new UnwrapdError('internal', 'segment before the header');
        check();
      },
    });
    const session: DecryptStreamSession = new DecryptStreamSession(
      opener,
      this.#register.bind(this),
      async (header) => {
        if (header.tenant !== input.tenant) throw decryptionFailed();
        // The caller's grant on the envelope's policy, before any key is looked up or unwrapped.
        input.authorize?.(header);
        const verify = () => void this.#keys.readable(header, input.purpose);
        await this.#withKey(header, 'read', input, (kek) => {
          opener.unlock(kek);
          session.held(
            this.#keys.hold(header.tenant, header.policyId, { check: verify, end: (err) => session.abort(err) }),
          );
        });
        check = verify;
      },
      input.onEnded,
    );
    return session;
  }

  #register(session: Session): (outcome: 'completed' | 'failed') => void {
    this.#sessions.add(session);
    this.#started++;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      this.#sessions.delete(session);
      if (outcome === 'completed') this.#completed++;
      else this.#failed++;
    };
  }

  /** The key for the synchronous `use` (src/core/key-lease.ts), counted as a lease while it is waited for. */
  async #withKey<T>(ref: EnvelopeRef, use: KeyUse, req: CallerRequest, fn: (kek: SecretKey) => T): Promise<T> {
    this.#leases++;
    try {
      return await this.#keys.withKey(ref, use, req, fn, undefined);
    } finally {
      this.#leases--;
    }
  }
}

/** One EncryptStream: header first, then push() plaintext, then final(); close() always (in a finally). */
export class EncryptStreamSession implements Session {
  readonly #sealer: SegmentSealer;
  readonly keyVersion: number;
  readonly #end: (outcome: 'completed' | 'failed') => void;
  readonly #ending: Ending;
  #completed = false;

  constructor(
    sealer: SegmentSealer,
    keyVersion: number,
    register: (s: Session) => (outcome: 'completed' | 'failed') => void,
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
export class DecryptStreamSession implements Session {
  readonly #opener: SegmentOpener;
  readonly #end: (outcome: 'completed' | 'failed') => void;
  readonly #unlock: (header: SegmentedHeader) => Promise<void>;
  readonly #ending: Ending;
  #ready = false;
  #completed = false;

  constructor(
    opener: SegmentOpener,
    register: (s: Session) => (outcome: 'completed' | 'failed') => void,
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
