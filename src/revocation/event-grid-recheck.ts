import type { KeyCache } from '../cache/key-cache.js';
import { parseAzureKeyId } from '../providers/azure-key-id.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { customerKeyDependents } from './cached-key-dependents.js';
import type { KeyVaultEvent } from './event-grid-events.js';

/**
 * The action a Key Vault event triggers: an immediate re-check of the affected keys. For every policy that
 * has keys in the cache whose cached versions depend on a customer key the events name (the key, any
 * version; or any key of the vault for an access-policy change), ask the provider for that key's status now; a key that is `revoked`
 * (disabled, deleted, access denied, expired) means the policy's cached keys go at once. The next request
 * then unwraps afresh and follows the usual rules (the other customer key, the availability key).
 *
 * An event is only a hint: nothing is trusted from it but which keys to look at.
 */
export interface RecheckDeps {
  registry: PolicyRegistry;
  cache: KeyCache;
  provider: RootKeyProvider;
  providerTimeoutMs: number;
}

export interface RecheckResult {
  /** Key URIs whose status was asked. */
  checked: string[];
  /** Policies whose cached keys must go, with the key that was revoked. */
  revoked: Array<{ tenant: string; policyId: string; keyUri: string; reason: string }>;
}

/**
 * The vault and key an Azure Key Vault key id names (src/providers/azure-key-id.ts parses it; any host), both
 * lower-cased as Event Grid events name them: the vault is the host's first label.
 */
export function vaultKeyOf(uri: string): { vaultName: string; keyName: string } | undefined {
  const ref = parseAzureKeyId(uri, []);
  if (!ref) return undefined;
  const vaultName = new URL(ref.vaultUrl).hostname.split('.')[0];
  return vaultName ? { vaultName: vaultName.toLowerCase(), keyName: ref.name.toLowerCase() } : undefined;
}

export async function recheckKeys(events: readonly KeyVaultEvent[], deps: RecheckDeps): Promise<RecheckResult> {
  const matches = (uri: string): boolean => {
    const parsed = vaultKeyOf(uri);
    if (!parsed) return false;
    return events.some(
      (e) =>
        e.vaultName === parsed.vaultName && (e.keyName === undefined || e.keyName.toLowerCase() === parsed.keyName),
    );
  };

  // The customer keys the cached key material depends on (the rule: cached-key-dependents.ts), those the events name.
  const usesByKey = new Map(
    [...customerKeyDependents(deps.cache.entries(), deps.registry)].filter(([uri]) => matches(uri)),
  );

  const result: RecheckResult = { checked: [...usesByKey.keys()], revoked: [] };
  const statuses = await Promise.all(
    result.checked.map(async (uri) => {
      try {
        return {
          uri,
          status: await deps.provider.status(uri, { signal: AbortSignal.timeout(deps.providerTimeoutMs) }),
        };
      } catch {
        // Status is advisory: a failed check proves nothing either way; the next unwrap decides.
        return { uri, status: undefined };
      }
    }),
  );
  const seen = new Set<string>();
  for (const { uri, status } of statuses) {
    if (!status || status.usable || status.kind !== 'revoked') continue;
    for (const p of usesByKey.get(uri) ?? []) {
      const key = `${p.tenant}/${p.policyId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      result.revoked.push({ ...p, keyUri: uri, reason: status.reason ?? 'revoked' });
    }
  }
  return result;
}
