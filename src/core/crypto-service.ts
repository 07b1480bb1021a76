import type { KeyCache } from '../cache/key-cache.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import {
  openBlock,
  parseEnvelopeFor,
  rewrapEnvelope,
  sealBlock,
  DEFAULT_BLOCK_SUITE,
  type BlockSuite,
  type EnvelopeRef,
  type ParsedEnvelope,
} from '../crypto/envelope.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { decryptionFailed, limitExceeded } from '../errors.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { RevocationGate } from '../revocation/revocation-gate.js';
import type { KeyUnwrapper } from './key-unwrapper.js';
import { KeyLeases, type CallerRequest } from './key-lease.js';
import { parseSegmentedPrefix, rewrapSegmentedHeader } from '../crypto/segmented-rewrap.js';
import { envelopeKind, type SegmentedHeader } from '../crypto/segmented-format.js';

export type { CallerRequest, Purpose } from './key-lease.js';

export interface EncryptInput extends CallerRequest {
  policyId: string;
  plaintext: Uint8Array;
}

export interface DecryptInput extends CallerRequest {
  envelope: Uint8Array;
}

export interface RewrapInput extends DecryptInput {
  /** Empty: the envelope's own policy at its active version. */
  targetPolicyId: string;
}

export interface CryptoServiceOptions {
  registry: PolicyRegistry;
  cache: KeyCache;
  unwrapper: KeyUnwrapper;
  maxBlockBytes: number;
  maxEnvelopeBytes: number;
  /** The suite new block envelopes are sealed with (the `envelopeWriteSuite` setting); default 2. */
  writeSuite?: BlockSuite;
  gate: RevocationGate;
  /** Refuses every request while the instance may be missing revocations (fleet feed lost). */
  fence?: { check(): void };
}

/**
 * Encrypt, decrypt and rewrap of single blocks. Keys come from the key leases (src/core/key-lease.ts): the
 * policy's state is read from the registry's memory on every call, after the key is in hand and synchronously
 * before it is used, so a revocation acknowledged before the call began is always seen, even when the call
 * waited on an unwrap that started earlier.
 */
export class CryptoService {
  readonly #opts: CryptoServiceOptions;

  /** The suite Encrypt and EncryptBatch seal new block envelopes with (1 or 2). */
  readonly writeSuite: BlockSuite;

  /** The key leases (src/core/key-lease.ts): batches and streams take their keys here too. */
  readonly leases: KeyLeases;

  constructor(opts: CryptoServiceOptions) {
    this.#opts = opts;
    this.writeSuite = opts.writeSuite ?? DEFAULT_BLOCK_SUITE;
    this.leases = new KeyLeases(opts);
  }

  get maxBlockBytes(): number {
    return this.#opts.maxBlockBytes;
  }

  async encrypt(input: EncryptInput): Promise<{ envelope: Buffer; keyVersion: number }> {
    this.checkBlockSize(input.plaintext.length);
    const policy = this.leases.writable(input.tenant, input.policyId);
    const ref = { tenant: policy.tenant, policyId: policy.id, keyVersion: policy.activeVersion };
    return this.leases.withKey(ref, 'write', input, seal, { ref, input, suite: this.writeSuite });
  }

  async decrypt(input: DecryptInput): Promise<{ plaintext: Buffer; policyId: string; keyVersion: number }> {
    const parsed = this.parse(input.tenant, input.envelope);
    return this.leases.withKey(parsed, 'read', input, open, { parsed, context: input.context });
  }

  /**
   * The same content under another policy of the tenant (or the newest version of its own): the data key is
   * unwrapped and wrapped again; the content is verified (its tag checked, the plaintext discarded) but not
   * re-encrypted. The caller never sees plaintext or keys. Nothing moves out of a revoked policy, whatever
   * the purpose: the availability key reads for `system` callers, it never carries content elsewhere.
   */
  async rewrap(
    input: RewrapInput,
  ): Promise<{ envelope: Buffer; policyId: string; keyVersion: number; replacedHeaderBytes: number }> {
    // A block envelope is rewrapped whole; a segmented (stream) one by its header alone (see segmented-rewrap.ts).
    const segmented = envelopeKind(input.envelope) === 'segmented';
    const source: EnvelopeRef = segmented
      ? parseSegmentedPrefix(input.envelope)
      : this.parse(input.tenant, input.envelope);
    if (source.tenant !== input.tenant) throw decryptionFailed();
    const sourcePolicy = this.leases.readable(source, input.purpose, 'move');
    const target = this.leases.writable(input.tenant, input.targetPolicyId || sourcePolicy.id);
    const ref = { tenant: target.tenant, policyId: target.id, keyVersion: target.activeVersion };
    return this.leases.withKeys(source, 'move', ref, 'write', input, (from, to) => {
      if (segmented) {
        const out = rewrapSegmentedHeader(input.envelope, source as SegmentedHeader, from, { ref, kek: to });
        return { ...out, policyId: ref.policyId, keyVersion: ref.keyVersion };
      }
      const parsed = source as ParsedEnvelope;
      openBlock(parsed, from, input.context).fill(0); // verify before vouching for it under another key
      const envelope = rewrapEnvelope(parsed, from, { ref, kek: to });
      return {
        envelope,
        policyId: ref.policyId,
        keyVersion: ref.keyVersion,
        replacedHeaderBytes: input.envelope.length,
      };
    });
  }

  checkBlockSize(length: number): void {
    if (length > this.#opts.maxBlockBytes) {
      throw limitExceeded(
        `plaintext is ${length} bytes; the largest block is ${this.#opts.maxBlockBytes} bytes (use EncryptStream for larger content)`,
        'maxBlockBytes',
        this.#opts.maxBlockBytes,
        'invalid_argument',
      );
    }
  }

  /** Parses an envelope for `tenant`; any malformation or a tenant mismatch is the generic failure. */
  parse(tenant: string, envelope: Uint8Array): ParsedEnvelope {
    if (envelope.length > this.#opts.maxEnvelopeBytes) {
      throw limitExceeded(
        `envelope is ${envelope.length} bytes; the largest is ${this.#opts.maxEnvelopeBytes} bytes`,
        'maxEnvelopeBytes',
        this.#opts.maxEnvelopeBytes,
        'invalid_argument',
      );
    }
    return parseEnvelopeFor(tenant, envelope);
  }
}

// The uses of a key by Encrypt and Decrypt: module functions, so the cache-hit path allocates no closure.

function seal(
  kek: SecretKey,
  a: { ref: EnvelopeRef; input: EncryptInput; suite: BlockSuite },
): { envelope: Buffer; keyVersion: number } {
  return {
    envelope: sealBlock({ ref: a.ref, kek, plaintext: a.input.plaintext, context: a.input.context, suite: a.suite }),
    keyVersion: a.ref.keyVersion,
  };
}

function open(
  kek: SecretKey,
  a: { parsed: ParsedEnvelope; context: EncryptionContext },
): { plaintext: Buffer; policyId: string; keyVersion: number } {
  return {
    plaintext: openBlock(a.parsed, kek, a.context),
    policyId: a.parsed.policyId,
    keyVersion: a.parsed.keyVersion,
  };
}
