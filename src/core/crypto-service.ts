import type { KeyCache } from '../cache/key-cache.js';
import { StaleLoadError } from '../cache/key-cache.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import { openBlock, parseEnvelope, rewrapEnvelope, sealBlock, type EnvelopeRef, type ParsedEnvelope } from '../crypto/envelope.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { decryptionFailed, invalidArgument, UnwrapdError } from '../errors.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { RevocationGate } from '../revocation/revocation-gate.js';
import type { PolicyRecord } from '../registry/policy.js';
import { CustomerKeysError, type KeyUnwrapper } from './key-unwrapper.js';
import { requireUsable } from './policy-state.js';
import { parseSegmentedPrefix, rewrapSegmentedHeader } from '../crypto/segmented-rewrap.js';
import { envelopeKind, type SegmentedHeader } from '../crypto/segmented-format.js';

export type Purpose = 'user' | 'system';

export interface CallerRequest {
  tenant: string;
  context: EncryptionContext;
  /** `system` has been checked against the caller's roles at the edge. */
  purpose: Purpose;
  requestId: string;
  signal: AbortSignal;
}

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
  gate: RevocationGate;
  /** Refuses every request while the instance may be missing revocations (fleet feed lost). */
  fence?: { check(): void };
}

/** A key for one operation; `release()` destroys it when it is not the cache's (the system path). */
export interface KeyLease {
  kek: SecretKey;
  release(): void;
}

const CACHED = () => {};

/**
 * Encrypt, decrypt and rewrap of single blocks. The policy's state is read from the registry's memory on
 * every call, after the key is in hand and synchronously before it is used, so a revocation acknowledged
 * before the call began is always seen, even when the call waited on an unwrap that started earlier.
 */
export class CryptoService {
  readonly #o: CryptoServiceOptions;

  constructor(opts: CryptoServiceOptions) {
    this.#o = opts;
  }

  get maxBlockBytes(): number {
    return this.#o.maxBlockBytes;
  }

  async encrypt(input: EncryptInput): Promise<{ envelope: Buffer; keyVersion: number }> {
    this.checkBlockSize(input.plaintext.length);
    const policy = this.#policyFor(input.tenant, input.policyId);
    const version = policy.activeVersion;
    const lease = await this.#lease(policy, version, input, 'write');
    try {
      // Synchronous from the last state check to the end of sealing: no eviction can interleave.
      this.#policyFor(input.tenant, input.policyId, version);
      const ref = { tenant: policy.tenant, policyId: policy.id, keyVersion: version };
      return { envelope: sealBlock({ ref, kek: lease.kek, plaintext: input.plaintext, context: input.context }), keyVersion: version };
    } finally {
      lease.release();
    }
  }

  async decrypt(input: DecryptInput): Promise<{ plaintext: Buffer; policyId: string; keyVersion: number }> {
    const parsed = this.parse(input.tenant, input.envelope);
    const policy = this.#policyForEnvelope(parsed, input.purpose);
    const lease = await this.#lease(policy, parsed.keyVersion, input, 'read');
    try {
      this.#policyForEnvelope(parsed, input.purpose);
      return { plaintext: openBlock(parsed, lease.kek, input.context), policyId: parsed.policyId, keyVersion: parsed.keyVersion };
    } finally {
      lease.release();
    }
  }

  /**
   * The same content under another policy of the tenant (or the newest version of its own): the data key is
   * unwrapped and wrapped again; the content is verified (its tag checked, the plaintext discarded) but not
   * re-encrypted. The caller never sees plaintext or keys.
   */
  async rewrap(input: RewrapInput): Promise<{ envelope: Buffer; policyId: string; keyVersion: number; replacedHeaderBytes: number }> {
    // A block envelope is rewrapped whole; a segmented (stream) one by its header alone (see segmented-rewrap.ts).
    const segmented = envelopeKind(input.envelope) === 'segmented';
    const source: EnvelopeRef = segmented ? parseSegmentedPrefix(input.envelope) : this.parse(input.tenant, input.envelope);
    if (source.tenant !== input.tenant) throw decryptionFailed();
    const sourcePolicy = this.#policyForEnvelope(source, input.purpose);
    const targetId = input.targetPolicyId || sourcePolicy.id;
    const target = this.#policyFor(input.tenant, targetId);
    const version = target.activeVersion;
    for (let attempt = 0; ; attempt++) {
      const from = await this.#lease(sourcePolicy, source.keyVersion, input, 'read');
      try {
        const to = await this.#lease(target, version, input, 'write');
        try {
          // The source key may have been replaced (refresh, bypass) while the target key was fetched: retake both.
          if (!from.kek.destroyed && !to.kek.destroyed) {
            this.#policyForEnvelope(source, input.purpose);
            this.#policyFor(input.tenant, targetId, version);
            const ref = { tenant: target.tenant, policyId: target.id, keyVersion: version };
            if (segmented) {
              const out = rewrapSegmentedHeader(input.envelope, source as SegmentedHeader, from.kek, { ref, kek: to.kek });
              return { ...out, policyId: target.id, keyVersion: version };
            }
            const parsed = source as ParsedEnvelope;
            openBlock(parsed, from.kek, input.context).fill(0); // verify before vouching for it under another key
            const envelope = rewrapEnvelope(parsed, from.kek, { ref, kek: to.kek });
            return { envelope, policyId: target.id, keyVersion: version, replacedHeaderBytes: input.envelope.length };
          }
        } finally {
          to.release();
        }
      } finally {
        from.release();
      }
      if (attempt >= 2) throw new UnwrapdError('unavailable', 'keys kept changing during the rewrap; retry');
    }
  }

  // ---- for batches and streams (core/batch-service.ts, core/stream-service.ts): the same state checks and
  // leases as the single-block calls. Check synchronously right before every use of a key.

  /**
   * The policy, if new content may be written under it now (NOT_FOUND, FAILED_PRECONDITION otherwise). With
   * `version`: also that the version is still decryptable (a rotation may have retired it meanwhile).
   */
  usablePolicy(tenant: string, policyId: string, version?: number): PolicyRecord {
    return this.#policyFor(tenant, policyId, version);
  }

  /** The policy content names (tenant, policy, version), if this purpose may decrypt it now. */
  usablePolicyForContent(ref: EnvelopeRef, purpose: Purpose): PolicyRecord {
    return this.#policyForEnvelope(ref, purpose);
  }

  /**
   * A key lease for a policy version (cached, or the system path's own key); release it in a `finally`.
   * `write`: to seal new content, which never falls back to the availability key for `system` callers.
   */
  leaseKey(policy: PolicyRecord, version: number, req: CallerRequest, mode: 'read' | 'write'): Promise<KeyLease> {
    return this.#lease(policy, version, req, mode);
  }

  checkBlockSize(length: number): void {
    if (length > this.#o.maxBlockBytes) {
      throw invalidArgument(`plaintext is ${length} bytes; the largest block is ${this.#o.maxBlockBytes} bytes (use EncryptStream for larger content)`);
    }
  }

  /** Parses an envelope for `tenant`; any malformation or a tenant mismatch is the generic failure. */
  parse(tenant: string, envelope: Uint8Array): ParsedEnvelope {
    if (envelope.length > this.#o.maxEnvelopeBytes) {
      throw invalidArgument(`envelope is ${envelope.length} bytes; the largest is ${this.#o.maxEnvelopeBytes} bytes`);
    }
    const parsed = parseEnvelope(envelope);
    if (parsed.tenant !== tenant) throw decryptionFailed();
    return parsed;
  }

  /**
   * The policy new content is written under: usable now, whatever the purpose (the availability key reads
   * after a revocation, it never writes). With `version`: that version is not retired.
   */
  #policyFor(tenant: string, policyId: string, version?: number): PolicyRecord {
    const policy = this.#o.registry.get(tenant, policyId);
    if (!policy) throw new UnwrapdError('not_found', `no policy ${tenant}/${policyId}`);
    this.#requireNotRevoking(policy, 'user');
    if (version !== undefined && version < policy.minDecryptVersion) {
      throw new UnwrapdError('unavailable', `policy ${tenant}/${policyId} was rotated during the request (key version ${version} retired); retry`);
    }
    return policy;
  }

  /** The policy an envelope names, if this purpose may read it; unknown policy or version is the generic failure. */
  #policyForEnvelope(parsed: EnvelopeRef, purpose: Purpose): PolicyRecord {
    const policy = this.#o.registry.get(parsed.tenant, parsed.policyId);
    if (!policy) throw decryptionFailed();
    this.#requireNotRevoking(policy, purpose);
    if (parsed.keyVersion < policy.minDecryptVersion) {
      throw new UnwrapdError('failed_precondition', `key version ${parsed.keyVersion} of policy ${policy.tenant}/${policy.id} is retired (minimum ${policy.minDecryptVersion})`);
    }
    if (!policy.versions.some((v) => v.version === parsed.keyVersion)) throw decryptionFailed();
    return policy;
  }

  /** The state check of every request: the registry's state, and a revocation this process is writing. */
  #requireNotRevoking(policy: PolicyRecord, purpose: Purpose): void {
    this.#o.fence?.check(); // deaf: UNAVAILABLE "revocation feed lost", whatever the purpose
    if (systemFallbackAllowed(policy, purpose)) return;
    requireUsable(policy);
    if (this.#o.gate.isRevoking(policy.tenant, policy.id)) throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} is revoked`);
  }

  /**
   * A key for (policy, version): from the cache while the policy is usable; through the availability key for
   * a `system` reader after a revocation (customer key revoked, or the policy revoked meanwhile). An eviction
   * during the wait (revocation, rotation, refresh) sends it round again, re-reading the policy each time.
   */
  async #lease(policy: PolicyRecord, version: number, req: CallerRequest, mode: 'read' | 'write'): Promise<KeyLease> {
    const hit = this.#o.cache.peek(policy.tenant, policy.id, version);
    if (hit && (policy.state === 'active' || policy.state === 'rolling')) return { kek: hit.kek, release: CACHED };
    const systemReader = mode === 'read' && req.purpose === 'system';
    for (let attempt = 0; ; attempt++) {
      const current = this.#o.registry.get(policy.tenant, policy.id) ?? policy;
      const usable = (current.state === 'active' || current.state === 'rolling') && !this.#o.gate.isRevoking(current.tenant, current.id);
      if (!usable) {
        if (systemReader && systemFallbackAllowed(current, req.purpose)) return this.#systemLease(current, version, req, `policy ${current.state}; system purpose`);
        this.#requireNotRevoking(current, 'user');
      }
      try {
        const key = await this.#o.cache.get(current.tenant, current.id, version, (s) => this.#o.unwrapper.load(current, version, s, req.requestId), req.signal);
        // A refresh or an eviction may have replaced and zeroized it while this call was being resumed.
        if (!key.kek.destroyed) return { kek: key.kek, release: CACHED };
      } catch (err) {
        if (err instanceof CustomerKeysError && err.kind === 'revoked') {
          // The provider said revoked: a revocation source. Nothing of this policy stays cached.
          this.#o.cache.evictPolicy(current.tenant, current.id);
          if (systemReader && systemFallbackAllowed(current, req.purpose)) {
            return this.#systemLease(current, version, req, `customer key revoked (${err.reasons}); system purpose`);
          }
          throw err;
        }
        if (!(err instanceof StaleLoadError)) throw err;
      }
      if (attempt >= 2) throw new UnwrapdError('unavailable', `keys of policy ${policy.tenant}/${policy.id} keep changing; retry`);
    }
  }

  /** The availability key for a `system` reader after a revocation: never cached, audited on every use. */
  async #systemLease(policy: PolicyRecord, version: number, req: CallerRequest, reason: string): Promise<KeyLease> {
    const loaded = await this.#o.unwrapper.loadViaAvailability(policy, version, req.signal, { requestId: req.requestId, reason });
    return { kek: loaded.kek, release: () => loaded.kek.destroy() };
  }
}

/** The Exchange rule after a revocation: `system` callers may still use the availability key until purge. */
function systemFallbackAllowed(policy: PolicyRecord, purpose: Purpose): boolean {
  return purpose === 'system' && policy.mode === 'mailbox' && policy.state !== 'purged' && policy.state !== 'registering';
}
