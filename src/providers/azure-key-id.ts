/**
 * Azure Key Vault key ids: `https://<vault>.vault.azure.net/keys/<name>[/<version>]` (or a managed HSM's
 * `https://<hsm>.managedhsm.azure.net/keys/...`), parsed and formatted, and the host names served by default.
 */
export const AZURE_SCHEME = 'https';
export const AZURE_WRAP_ALGORITHM = 'RSA-OAEP-256';
export const AZURE_UNWRAP_ALGORITHMS: readonly string[] = ['RSA-OAEP-256', 'RSA-OAEP'];
/** Public cloud, China, US Government; Key Vault and managed HSM. */
export const AZURE_VAULT_HOST_SUFFIXES: readonly string[] = [
  '.vault.azure.net',
  '.vault.azure.cn',
  '.vault.usgovcloudapi.net',
  '.managedhsm.azure.net',
  '.managedhsm.azure.cn',
  '.managedhsm.usgovcloudapi.net',
];

export interface AzureKeyRef {
  /** `https://host[:port]` as written (lower-cased host). */
  vaultUrl: string;
  name: string;
  version?: string;
}

const NAME_PATTERN = /^[0-9A-Za-z-]{1,127}$/;
/** A key version as the vault writes it. */
export const VERSION_PATTERN = /^[0-9A-Za-z]{1,64}$/;

/** Parses a Key Vault key id; undefined when it is not one (or its host is not allowed). */
export function parseAzureKeyId(
  uri: string,
  allowedHostSuffixes: readonly string[] = AZURE_VAULT_HOST_SUFFIXES,
): AzureKeyRef | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.search || url.hash) return undefined;
  const host = url.hostname.toLowerCase();
  if (allowedHostSuffixes.length > 0 && !allowedHostSuffixes.some((s) => host.endsWith(s) && host.length > s.length))
    return undefined;
  const parts = url.pathname.split('/');
  if (parts[0] !== '' || parts[1] !== 'keys' || parts.length < 3 || parts.length > 4) return undefined;
  const name = parts[2] ?? '';
  const version = parts[3];
  if (!NAME_PATTERN.test(name)) return undefined;
  if (version !== undefined && !VERSION_PATTERN.test(version)) return undefined;
  const vaultUrl = `https://${url.host.toLowerCase()}`;
  return version === undefined ? { vaultUrl, name } : { vaultUrl, name, version };
}

export function formatAzureKeyId(ref: AzureKeyRef): string {
  return ref.version === undefined
    ? `${ref.vaultUrl}/keys/${ref.name}`
    : `${ref.vaultUrl}/keys/${ref.name}/${ref.version}`;
}
