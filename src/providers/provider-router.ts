import type { SecretKey } from '../crypto/secret-key.js';
import { UnwrapdError } from '../errors.js';
import { providerError } from './provider-error.js';
import type {
  CallOptions,
  DestructionConfirmation,
  KeyStatus,
  ResolvedKey,
  RootKeyProvider,
  WrappedKey,
} from './root-key-provider.js';

/**
 * One RootKeyProvider over several: each call goes to the provider serving the key URI's scheme (the text
 * before the first ':', matched exactly). A URI with no known scheme is `key_not_found`
 * (revoked): an unroutable key fails closed rather than opening the availability-key path.
 */
export function createProviderRouter(providers: readonly RootKeyProvider[]): RootKeyProvider {
  const byScheme = new Map<string, RootKeyProvider>();
  for (const provider of providers) {
    for (const scheme of provider.schemes) {
      if (byScheme.has(scheme))
        throw new UnwrapdError('invalid_argument', `two root-key providers serve the scheme "${scheme}"`);
      byScheme.set(scheme, provider);
    }
  }
  const schemes = [...byScheme.keys()];

  function route(keyUri: string): RootKeyProvider {
    const colon = keyUri.indexOf(':');
    const scheme = colon > 0 ? keyUri.slice(0, colon) : '';
    const provider = byScheme.get(scheme);
    if (provider) return provider;
    const known = schemes.length > 0 ? schemes.join(', ') : 'none';
    const what =
      scheme === '' ? 'has no scheme' : `has the scheme "${scheme.slice(0, 32)}", which no configured provider serves`;
    throw providerError('key_not_found', keyUri, `key URI ${keyUri} ${what} (known schemes: ${known})`);
  }

  return {
    schemes,
    async resolve(keyUri: string, opts: CallOptions): Promise<ResolvedKey> {
      return route(keyUri).resolve(keyUri, opts);
    },
    async wrap(keyUri: string, key: SecretKey, opts: CallOptions): Promise<WrappedKey> {
      return route(keyUri).wrap(keyUri, key, opts);
    },
    async unwrap(wrapped: WrappedKey, opts: CallOptions): Promise<SecretKey> {
      return route(wrapped.keyUri).unwrap(wrapped, opts);
    },
    async status(keyUri: string, opts: CallOptions): Promise<KeyStatus> {
      return route(keyUri).status(keyUri, opts);
    },
    /** Routed by the base's scheme; a provider that cannot create keys is failed_precondition. */
    async createKey(baseUri: string, nameHint: string, opts: CallOptions): Promise<ResolvedKey> {
      const provider = route(baseUri.includes(':') ? baseUri : `${baseUri}:`);
      if (!provider.createKey)
        throw new UnwrapdError('failed_precondition', `the provider for ${baseUri.slice(0, 64)} cannot create keys`, {
          reason: 'PROVIDER_UNSUPPORTED',
        });
      return provider.createKey(baseUri, nameHint, opts);
    },
    /** Routed by the key's scheme; a provider that cannot destroy keys is failed_precondition. */
    async destroyKey(keyUri: string, opts: CallOptions): Promise<DestructionConfirmation> {
      const provider = route(keyUri);
      if (!provider.destroyKey)
        throw new UnwrapdError('failed_precondition', `the provider for ${keyUri.slice(0, 64)} cannot destroy keys`, {
          reason: 'PROVIDER_UNSUPPORTED',
        });
      return provider.destroyKey(keyUri, opts);
    },
    /** Closes every provider (each once), even when some fail; then rethrows the first failure. */
    async close(): Promise<void> {
      const results = await Promise.allSettled([...new Set(providers)].map((p) => p.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
