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
  close(): Promise<void>;
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
