import { SegmentOpener, SegmentSealer } from '../crypto/segmented.js';
import { requireSegmentSize, type SegmentedHeader } from '../crypto/segmented-format.js';
import { decryptionFailed, UnwrapdError } from '../errors.js';
import type { SecretKey } from '../crypto/secret-key.js';
import type { EnvelopeRef } from '../crypto/envelope.js';
import type { CryptoService } from './crypto-service.js';
import type { CallerRequest, KeyLeases, KeyUse } from './key-lease.js';
import { DecryptStreamSession, EncryptStreamSession, type StreamSession } from './stream-sessions.js';

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
  readonly #sessions = new Set<StreamSession>();
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

  #register(session: StreamSession): (outcome: 'completed' | 'failed') => void {
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
