import { createHash, randomInt } from 'node:crypto';
import type { LoadedPolicyKey } from '../cache/key-cache.js';
import type { CustomerKeyLoader } from '../cache/refresh-ahead.js';
import { deriveWrappingKey } from '../crypto/envelope.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { policyMetadata, UnwrapdError } from '../errors.js';
import type { ProviderError } from '../providers/provider-error.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import { providerName } from '../providers/provider-telemetry.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { findVersion, type KeyRole, type PolicyRecord, type WrappedCopyRecord } from '../registry/policy.js';
import { classifyProviderFailure, providerFailure, providerFailureCode } from './provider-failure.js';

export interface UnwrapperOptions {
  provider: RootKeyProvider;
  /** Upper bound on one provider call. */
  providerTimeoutMs: number;
  /** Ask the second customer key when the first has not answered within this long. */
  hedgeDelayMs: number;
  /**
   * Called for every provider failure (classification feeds revocation and metrics), with the request that
   * caused the unwrap when there is one (a cache load shared by several requests: the one that started it).
   */
  onProviderError?: (err: ProviderError, policy: PolicyRecord, role: KeyRole, request?: UnwrapRequest) => void;
  /**
   * Called before a key unwrapped by the availability key is used; it must make the audit record durable.
   * If it throws, the key is destroyed and the request fails.
   */
  onAvailabilityUse: (use: AvailabilityUse) => Promise<void>;
  /** Hedges fired and availability-key uses, counted (default: not). */
  telemetry?: Pick<Telemetry, 'hedge' | 'availabilityKeyUse'>;
}

/** The request an unwrap serves, for the log lines and audit records it causes. */
export interface UnwrapRequest {
  requestId: string;
  actor?: string;
  traceId?: string;
}

/** Why and for whom the availability key unwraps (audited). */
export interface AvailabilityRequest extends UnwrapRequest {
  reason: string;
}

export interface AvailabilityUse {
  policy: PolicyRecord;
  version: number;
  requestId: string;
  reason: string;
  /** The caller whose request used it (`unix:...`, `tls:...`, `mesh:...`); absent for operator paths that name their own actor. */
  actor?: string;
  traceId?: string;
}

/** Both customer keys failed; `kind` is `revoked` when any of them said so (mixed failures fail closed). */
export class CustomerKeysError extends UnwrapdError {
  readonly kind: 'revoked' | 'unavailable';
  readonly failures: ReadonlyArray<{ role: KeyRole; error: ProviderError }>;
  constructor(policy: PolicyRecord, version: number, failures: Array<{ role: KeyRole; error: ProviderError }>) {
    const kind = failures.some((f) => f.error.kind === 'revoked') ? 'revoked' : 'unavailable';
    const where = `policy ${policy.tenant}/${policy.id} version ${version}`;
    const reasons = failures.map((f) => `${f.role}: ${f.error.reason}`).join(', ');
    super(
      providerFailureCode(kind),
      kind === 'revoked'
        ? `customer keys refused to unwrap ${where} (${reasons})`
        : `customer keys unavailable for ${where} (${reasons})`,
      {
        reason: kind === 'revoked' ? 'CUSTOMER_KEYS_REVOKED' : 'CUSTOMER_KEYS_UNAVAILABLE',
        metadata: { ...policyMetadata(policy.tenant, policy.id), key_version: version, provider_reasons: reasons },
      },
    );
    this.kind = kind;
    this.failures = failures;
  }

  get reasons(): string {
    return this.failures.map((f) => `${f.role}: ${f.error.reason}`).join(', ');
  }
}

/**
 * Unwraps a policy version's intermediate key through its root keys:
 * - customer keys, hedged: one chosen at random; if it has not answered within `hedgeDelayMs` (or failed),
 *   the other is asked too; the first success wins and the other call is aborted;
 * - the availability key, only where the rules allow it (see docs/lifecycle.md), each use audited first.
 * The cache holds the derived wrapping key; the intermediate key itself is destroyed after derivation.
 */
export class KeyUnwrapper implements CustomerKeyLoader {
  readonly #opts: UnwrapperOptions;
  #unwraps = 0;
  #availabilityUses = 0;

  constructor(opts: UnwrapperOptions) {
    this.#opts = opts;
  }

  get providerUnwraps(): number {
    return this.#unwraps;
  }

  get availabilityKeyUses(): number {
    return this.#availabilityUses;
  }

  /**
   * The cache's loader: customer keys; in `mailbox` mode, when every customer key is *unavailable* (none
   * said *revoked*), the availability key serves (the Exchange rule). `files` mode never falls back here.
   */
  async load(
    policy: PolicyRecord,
    version: number,
    signal: AbortSignal,
    requestId = '',
    actor?: string,
    traceId?: string,
  ): Promise<LoadedPolicyKey> {
    const request: UnwrapRequest = { requestId, ...(actor ? { actor } : {}), ...(traceId ? { traceId } : {}) };
    try {
      return this.#derive(policy, version, await this.unwrapCustomer(policy, version, signal, request));
    } catch (err) {
      if (!(err instanceof CustomerKeysError) || err.kind !== 'unavailable' || policy.mode !== 'mailbox') throw err;
      const reason = `customer keys unavailable (${err.reasons})`;
      return this.#derive(
        policy,
        version,
        await this.unwrapAvailability(policy, version, signal, { ...request, reason }),
      );
    }
  }

  /** A wrapping key through the customer keys alone (background refresh: never the availability key). */
  async loadCustomer(policy: PolicyRecord, version: number, signal: AbortSignal): Promise<LoadedPolicyKey> {
    return this.#derive(policy, version, await this.unwrapCustomer(policy, version, signal));
  }

  /** The customer keys' reasons when `err` says they refused (refresh-ahead evicts then); undefined otherwise. */
  refusalReasons(err: unknown): string | undefined {
    return err instanceof CustomerKeysError && err.kind === 'revoked' ? err.reasons : undefined;
  }

  /** A wrapping key through the availability key alone (callers decide whether the rules allow it). */
  async loadViaAvailability(
    policy: PolicyRecord,
    version: number,
    signal: AbortSignal,
    use: AvailabilityRequest,
  ): Promise<LoadedPolicyKey> {
    return this.#derive(policy, version, await this.unwrapAvailability(policy, version, signal, use));
  }

  /** The intermediate key through the customer keys, hedged. The caller owns (and destroys) the result. */
  async unwrapCustomer(
    policy: PolicyRecord,
    version: number,
    signal: AbortSignal,
    request?: UnwrapRequest,
  ): Promise<{ ik: SecretKey; copy: WrappedCopyRecord }> {
    const record = findVersion(policy, version);
    if (!record)
      throw new UnwrapdError('not_found', `policy ${policy.tenant}/${policy.id} has no key version ${version}`, {
        reason: 'KEY_VERSION_NOT_FOUND',
        metadata: { ...policyMetadata(policy.tenant, policy.id), key_version: version },
      });
    const customer = record.copies.filter((c) => c.role === 'customer-a' || c.role === 'customer-b');
    if (customer.length === 0)
      throw new UnwrapdError(
        'failed_precondition',
        `policy ${policy.tenant}/${policy.id} version ${version} has no customer-key copies`,
      );
    const order = customer.length === 2 && randomInt(2) === 1 ? [customer[1]!, customer[0]!] : customer;
    return this.#hedged(policy, version, order, signal, request);
  }

  /** The intermediate key through the availability key; audited (durably) before it is returned. */
  async unwrapAvailability(
    policy: PolicyRecord,
    version: number,
    signal: AbortSignal,
    use: AvailabilityRequest,
  ): Promise<{ ik: SecretKey; copy: WrappedCopyRecord }> {
    const copy = findVersion(policy, version)?.copies.find((c) => c.role === 'availability');
    if (!copy)
      throw new UnwrapdError(
        'failed_precondition',
        `policy ${policy.tenant}/${policy.id} version ${version} has no availability-key copy`,
      );
    let ik: SecretKey;
    try {
      ik = await this.#unwrapCopy(copy, signal);
    } catch (err) {
      const e = classifyProviderFailure(err, copy.keyUri);
      this.#opts.onProviderError?.(e, policy, 'availability', use);
      throw providerFailure(
        e,
        `availability key cannot unwrap policy ${policy.tenant}/${policy.id} version ${version}: ${e.reason}`,
        'availability',
      );
    }
    try {
      await this.#opts.onAvailabilityUse({
        policy,
        version,
        requestId: use.requestId,
        reason: use.reason,
        ...(use.actor ? { actor: use.actor } : {}),
        ...(use.traceId ? { traceId: use.traceId } : {}),
      });
    } catch (err) {
      ik.destroy();
      throw new UnwrapdError('unavailable', 'the audit record for an availability-key use could not be written', {
        reason: 'AUDIT_UNAVAILABLE',
        cause: err,
      });
    }
    this.#availabilityUses++;
    this.#opts.telemetry?.availabilityKeyUse(policy.tenant);
    return { ik, copy };
  }

  #hedged(
    policy: PolicyRecord,
    version: number,
    order: WrappedCopyRecord[],
    signal: AbortSignal,
    request?: UnwrapRequest,
  ): Promise<{ ik: SecretKey; copy: WrappedCopyRecord }> {
    return new Promise((resolve, reject) => {
      const failures: Array<{ role: KeyRole; error: ProviderError }> = [];
      const controllers: AbortController[] = [];
      let started = 0;
      let pending = 0;
      let settled = false;
      let hedgeTimer: NodeJS.Timeout | undefined;

      const startNext = () => {
        if (settled || started >= order.length) return;
        const copy = order[started++]!;
        const controller = new AbortController();
        controllers.push(controller);
        pending++;
        this.#unwrapCopy(copy, AbortSignal.any([signal, controller.signal])).then(
          (ik) => {
            pending--;
            if (settled) {
              ik.destroy(); // the slower of two successes
              return;
            }
            settled = true;
            clearTimeout(hedgeTimer);
            for (const c of controllers) c.abort(); // cancel the other call
            resolve({ ik, copy });
          },
          (err: unknown) => {
            pending--;
            if (settled) return;
            const error = classifyProviderFailure(err, copy.keyUri);
            failures.push({ role: copy.role, error });
            this.#opts.onProviderError?.(error, policy, copy.role, request);
            if (started < order.length) {
              clearTimeout(hedgeTimer);
              startNext();
            } else if (pending === 0) {
              settled = true;
              reject(signal.aborted ? signal.reason : new CustomerKeysError(policy, version, failures));
            }
          },
        );
      };

      startNext();
      if (order.length > 1) {
        hedgeTimer = setTimeout(() => {
          if (!settled && started < order.length) this.#opts.telemetry?.hedge(providerName(order[started]!.keyUri));
          startNext();
        }, this.#opts.hedgeDelayMs);
        hedgeTimer.unref();
      }
    });
  }

  async #unwrapCopy(copy: WrappedCopyRecord, signal: AbortSignal): Promise<SecretKey> {
    this.#unwraps++;
    const combined = AbortSignal.any([signal, AbortSignal.timeout(this.#opts.providerTimeoutMs)]);
    return this.#opts.provider.unwrap(
      { keyUri: copy.keyUri, algorithm: copy.algorithm, ciphertext: Buffer.from(copy.ciphertext, 'base64') },
      { signal: combined },
    );
  }

  #derive(
    policy: PolicyRecord,
    version: number,
    unwrapped: { ik: SecretKey; copy: WrappedCopyRecord },
  ): LoadedPolicyKey {
    try {
      const kek = deriveWrappingKey(unwrapped.ik, { tenant: policy.tenant, policyId: policy.id, keyVersion: version });
      return {
        tenant: policy.tenant,
        policyId: policy.id,
        version,
        kek,
        sourceRole: unwrapped.copy.role,
        keyId: copyFingerprint(unwrapped.copy),
      };
    } finally {
      unwrapped.ik.destroy();
    }
  }
}

/** A short identifier of a wrapped copy, safe to show operators: a SHA-256 prefix of the wrapped bytes. */
export function copyFingerprint(copy: Pick<WrappedCopyRecord, 'ciphertext'>): string {
  return createHash('sha256').update(copy.ciphertext, 'base64').digest('hex').slice(0, 16);
}
