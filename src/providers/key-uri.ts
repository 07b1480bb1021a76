/**
 * Key URIs name a root key and usually pin its version: `local:name/3`,
 * `https://vault.vault.azure.net/keys/name/0123abcd`. `unpinned` drops the version so that the provider
 * resolves the latest one (used by Refresh and RollKey without an explicit target).
 */
export function unpinned(uri: string): string {
  const local = /^local:([^/]+)\/\d+$/.exec(uri);
  if (local) return `local:${local[1]}`;
  const vault = /^(https:\/\/[^/]+\/keys\/[^/]+)\/[^/]+\/?$/.exec(uri);
  if (vault) return vault[1]!;
  const pkcs11 = /^(pkcs11:[^/]+)\/[^/]+$/.exec(uri);
  if (pkcs11) return pkcs11[1]!;
  return uri;
}
