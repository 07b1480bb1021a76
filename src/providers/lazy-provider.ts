import type {
  CallOptions,
  DestructionConfirmation,
  ResolvedKey,
  RootKeyProvider,
  WrappedKey,
} from './root-key-provider.js';

/**
 * A provider whose code is loaded on its first call: `load` (a dynamic import and the factory) runs once, and
 * every call is forwarded to what it returns. The daemon always serves the `https:` scheme, but loads the
 * Azure Key Vault provider (and the Azure HTTP pipeline under it) only when an `https:` key is used, so a
 * daemon without Azure keys starts without it. `admin`: forward createKey/destroyKey (the loaded provider
 * must have them). Closed before any call: nothing is loaded; a call after close gets the closed provider.
 */
export function lazyProvider(
  schemes: readonly string[],
  load: () => Promise<RootKeyProvider>,
  admin: boolean,
): RootKeyProvider {
  let loaded: Promise<RootKeyProvider> | undefined;
  let closed = false;

  async function provider(): Promise<RootKeyProvider> {
    const p = await (loaded ??= load());
    if (closed) await p.close();
    return p;
  }

  const lazy: RootKeyProvider = {
    schemes,
    resolve: async (keyUri: string, opts: CallOptions): Promise<ResolvedKey> =>
      (await provider()).resolve(keyUri, opts),
    wrap: async (keyUri, key, opts): Promise<WrappedKey> => (await provider()).wrap(keyUri, key, opts),
    unwrap: async (wrapped, opts) => (await provider()).unwrap(wrapped, opts),
    status: async (keyUri, opts) => (await provider()).status(keyUri, opts),
    async close(): Promise<void> {
      closed = true;
      if (loaded) await (await loaded).close();
    },
  };
  if (!admin) return lazy;
  return {
    ...lazy,
    async createKey(baseUri: string, nameHint: string, opts: CallOptions): Promise<ResolvedKey> {
      const p = await provider();
      if (!p.createKey) throw new Error(`the ${schemes.join('/')} provider cannot create keys`);
      return p.createKey(baseUri, nameHint, opts);
    },
    async destroyKey(keyUri: string, opts: CallOptions): Promise<DestructionConfirmation> {
      const p = await provider();
      if (!p.destroyKey) throw new Error(`the ${schemes.join('/')} provider cannot destroy keys`);
      return p.destroyKey(keyUri, opts);
    },
  };
}
