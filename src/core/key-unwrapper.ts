import { createHash, randomInt } from 'node:crypto';
import type { PolicyKey } from '../cache/key-cache.js';
import { deriveWrappingKey } from '../crypto/envelope.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { UnwrapdError } from '../errors.js';
import { isProviderError, providerError, type ProviderError } from '../providers/provider-error.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import { findVersion, type KeyRole, type PolicyRecord, type WrappedCopyRecord } from '../registry/policy.js';

export interface UnwrapperOptions {
  provider: RootKeyProvider;
  /** Upper bound on one provider call. */
  providerTimeoutMs: number;
  /** Called for every provider failure (classification feeds revocation and metrics). */
  onProviderError?: (err: ProviderError, policy: PolicyRecord) => void;
}

/**
 * Unwraps a policy version's intermediate key through the customer keys and derives the key the cache
 * holds. The customer key asked first is chosen at random; when it fails the other is asked. When both
 * fail, the result is classified: any `revoked` fails closed (FAILED_PRECONDITION), all `unavailable` is
 * UNAVAILABLE.
 */
export class KeyUnwrapper {
  readonly #opts: UnwrapperOptions;
  #unwraps = 0;

  constructor(opts: UnwrapperOptions) {
    this.#opts = opts;
  }

  get providerUnwraps(): number {
    return this.#unwraps;
  }

  async load(policy: PolicyRecord, version: number, signal: AbortSignal): Promise<Omit<PolicyKey, 'loadedAt' | 'expiresAt'>> {
    const record = findVersion(policy, version);
    if (!record) throw new UnwrapdError('not_found', `policy ${policy.tenant}/${policy.id} has no key version ${version}`);
    const customer = record.copies.filter((c) => c.role === 'customer-a' || c.role === 'customer-b');
    if (customer.length === 0) throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} version ${version} has no customer-key copies`);
    const order = randomInt(2) === 0 ? customer : [...customer].reverse();
    const failures: Array<{ role: KeyRole; error: ProviderError }> = [];
    for (const copy of order) {
      try {
        const ik = await this.#unwrapCopy(copy, signal);
        return this.#derive(policy, version, copy, ik);
      } catch (err) {
        const classified = classify(err, copy.keyUri);
        failures.push({ role: copy.role, error: classified });
        this.#opts.onProviderError?.(classified, policy);
      }
    }
    throw bothFailed(policy, version, failures);
  }

  async #unwrapCopy(copy: WrappedCopyRecord, signal: AbortSignal): Promise<SecretKey> {
    this.#unwraps++;
    const timeout = AbortSignal.timeout(this.#opts.providerTimeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    return this.#opts.provider.unwrap(
      { keyUri: copy.keyUri, algorithm: copy.algorithm, ciphertext: Buffer.from(copy.ciphertext, 'base64') },
      { signal: combined },
    );
  }

  #derive(policy: PolicyRecord, version: number, copy: WrappedCopyRecord, ik: SecretKey): Omit<PolicyKey, 'loadedAt' | 'expiresAt'> {
    try {
      const kek = deriveWrappingKey(ik, { tenant: policy.tenant, policyId: policy.id, keyVersion: version });
      return { tenant: policy.tenant, policyId: policy.id, version, kek, sourceRole: copy.role, keyId: copyFingerprint(copy) };
    } finally {
      ik.destroy();
    }
  }
}

/** A short identifier of a wrapped copy, safe to show operators: a SHA-256 prefix of the wrapped bytes. */
export function copyFingerprint(copy: Pick<WrappedCopyRecord, 'ciphertext'>): string {
  return createHash('sha256').update(copy.ciphertext, 'base64').digest('hex').slice(0, 16);
}

function classify(err: unknown, keyUri: string): ProviderError {
  if (isProviderError(err)) return err;
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return providerError(err.name === 'TimeoutError' ? 'timeout' : 'aborted', keyUri, 'provider call aborted', err);
  }
  return providerError('unknown', keyUri, 'provider call failed', err);
}

function bothFailed(policy: PolicyRecord, version: number, failures: Array<{ role: KeyRole; error: ProviderError }>): UnwrapdError {
  const where = `policy ${policy.tenant}/${policy.id} version ${version}`;
  const reasons = failures.map((f) => `${f.role}: ${f.error.reason}`).join(', ');
  if (failures.some((f) => f.error.kind === 'revoked')) {
    return new UnwrapdError('failed_precondition', `customer keys refused to unwrap ${where} (${reasons})`);
  }
  return new UnwrapdError('unavailable', `customer keys unavailable for ${where} (${reasons})`);
}
