import type { SecretKey } from '../crypto/secret-key.js';

/**
 * A root-key provider holds customer keys or the availability key and wraps/unwraps intermediate keys with
 * them. Implementations: the local keystore (embedded default), Azure Key Vault, PKCS#11 HSM.
 *
 * Every call takes an AbortSignal (the caller's deadline) and must settle promptly once it aborts.
 * Every failure is a ProviderError classified `revoked` or `unavailable` (src/providers/provider-error.ts).
 */
export interface RootKeyProvider {
  /** URI scheme(s) this provider serves, e.g. "local" or "https". */
  readonly schemes: readonly string[];
  /** Resolves a key URI to a pinned version (the latest when the URI has none). */
  resolve(keyUri: string, opts: CallOptions): Promise<ResolvedKey>;
  /** Wraps `key` under the root key named by `keyUri` (which must be pinned to a version). */
  wrap(keyUri: string, key: SecretKey, opts: CallOptions): Promise<WrappedKey>;
  /** Unwraps a copy produced by wrap(); the result is a fresh SecretKey owned by the caller. */
  unwrap(wrapped: WrappedKey, opts: CallOptions): Promise<SecretKey>;
  /** Whether the key can be used now, without wrapping anything. */
  status(keyUri: string, opts: CallOptions): Promise<KeyStatus>;
  /**
   * Optional: creates a new key for one policy (its availability key) under `baseUri`, a key base such as
   * `local:`, `pkcs11:token=<label>` or `https://<vault>/keys/` (src/providers/key-base.ts). `nameHint`
   * (e.g. "tenant.policy") goes into the new key's name, made safe and unique by the provider.
   */
  createKey?(baseUri: string, nameHint: string, opts: CallOptions): Promise<ResolvedKey>;
  /**
   * Optional: destroys the key named by `keyUri` (every version) for good, and says what was done. A key
   * already destroyed by an earlier call is confirmed again (`alreadyDestroyed`), so a retried purge can
   * finish; any doubt (unreachable provider, refused deletion) is an error, never a confirmation.
   */
  destroyKey?(keyUri: string, opts: CallOptions): Promise<DestructionConfirmation>;
  close(): Promise<void>;
}

/** What a provider says it did to destroy a key. Identifiers and facts only: never key material. */
export interface DestructionConfirmation {
  /** The provider that destroyed it: "local", "pkcs11" or "azure-key-vault". */
  provider: string;
  /** The key, without a version (every version is destroyed). */
  keyUri: string;
  /** What was done, in words (e.g. "deleted and purged from the vault; GET and GET deleted answer 404"). */
  action: string;
  /** When (RFC 3339). */
  destroyedAt: string;
  /** True when the key was already gone (an earlier, interrupted purge destroyed it). */
  alreadyDestroyed: boolean;
}

export interface CallOptions {
  signal: AbortSignal;
}

export interface ResolvedKey {
  /** The key URI pinned to a version, e.g. "local:contoso-a/2". */
  uri: string;
  /** Algorithm used to wrap under it, e.g. "RSA-OAEP-256". */
  algorithm: string;
}

export interface WrappedKey {
  /** The root key (pinned version) it is wrapped under. */
  keyUri: string;
  algorithm: string;
  ciphertext: Uint8Array;
}

export interface KeyStatus {
  uri: string;
  usable: boolean;
  /** When not usable: the classified reason. */
  kind?: 'revoked' | 'unavailable';
  reason?: string;
}
