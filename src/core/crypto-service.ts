import type { KeyCache, PolicyKey } from '../cache/key-cache.js';
import { StaleLoadError } from '../cache/key-cache.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import { openBlock, parseEnvelope, sealBlock, type ParsedEnvelope } from '../crypto/envelope.js';
import { decryptionFailed, invalidArgument, UnwrapdError } from '../errors.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { PolicyRecord } from '../registry/policy.js';
import type { KeyUnwrapper } from './key-unwrapper.js';
import { requireUsable } from './policy-state.js';

export type Purpose = 'user' | 'system';

export interface CallerRequest {
  tenant: string;
  context: EncryptionContext;
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

export interface CryptoServiceOptions {
  registry: PolicyRegistry;
  cache: KeyCache;
  unwrapper: KeyUnwrapper;
  maxBlockBytes: number;
  maxEnvelopeBytes: number;
}

/**
 * Encrypt and decrypt of single blocks. The policy's state is read from the registry's memory on every
 * call, after the key is in hand, so a revocation acknowledged before the call began is always seen even
 * when the call waited on an unwrap that started before it.
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
    if (input.plaintext.length > this.#o.maxBlockBytes) {
      throw invalidArgument(`plaintext is ${input.plaintext.length} bytes; the largest block is ${this.#o.maxBlockBytes} bytes (use EncryptStream for larger content)`);
    }
    const policy = this.#policy(input.tenant, input.policyId);
    const version = policy.activeVersion;
    const key = await this.#key(policy, version, input.signal);
    const ref = { tenant: policy.tenant, policyId: policy.id, keyVersion: version };
    // Synchronous from the last state check to the end of sealing: no eviction can interleave.
    this.#policy(input.tenant, input.policyId);
    const envelope = sealBlock({ ref, kek: key.kek, plaintext: input.plaintext, context: input.context });
    return { envelope, keyVersion: version };
  }

  async decrypt(input: DecryptInput): Promise<{ plaintext: Buffer; policyId: string; keyVersion: number }> {
    const parsed = this.parse(input.tenant, input.envelope);
    const key = await this.keyFor(parsed, input.signal);
    this.policyForEnvelope(parsed);
    const plaintext = openBlock(parsed, key.kek, input.context);
    return { plaintext, policyId: parsed.policyId, keyVersion: parsed.keyVersion };
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

  /** The policy an envelope names, usable for decryption of its version; unknown policy or version is the generic failure. */
  policyForEnvelope(parsed: ParsedEnvelope): PolicyRecord {
    const policy = this.#o.registry.get(parsed.tenant, parsed.policyId);
    if (!policy) throw decryptionFailed();
    requireUsable(policy);
    if (parsed.keyVersion < policy.minDecryptVersion) {
      throw new UnwrapdError('failed_precondition', `key version ${parsed.keyVersion} of policy ${policy.tenant}/${policy.id} is retired (minimum ${policy.minDecryptVersion})`);
    }
    if (!policy.versions.some((v) => v.version === parsed.keyVersion)) throw decryptionFailed();
    return policy;
  }

  async keyFor(parsed: ParsedEnvelope, signal: AbortSignal): Promise<PolicyKey> {
    const policy = this.policyForEnvelope(parsed);
    return this.#key(policy, parsed.keyVersion, signal);
  }

  #policy(tenant: string, policyId: string): PolicyRecord {
    const policy = this.#o.registry.get(tenant, policyId);
    if (!policy) throw new UnwrapdError('not_found', `no policy ${tenant}/${policyId}`);
    requireUsable(policy);
    return policy;
  }

  async #key(policy: PolicyRecord, version: number, signal: AbortSignal): Promise<PolicyKey> {
    const hit = this.#o.cache.peek(policy.tenant, policy.id, version);
    if (hit) return hit;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#o.cache.get(policy.tenant, policy.id, version, (s) => this.#o.unwrapper.load(policy, version, s), signal);
      } catch (err) {
        if (!(err instanceof StaleLoadError) || attempt >= 2) throw err;
        // Evicted while loading: the state check decides whether a fresh load is allowed.
        policy = this.#policy(policy.tenant, policy.id);
      }
    }
  }
}
