/**
 * Key bases: where a provider creates a new key, written as a key URI without the key's name:
 * - `local:` (or `local`): the local keystore;
 * - `pkcs11:token=<label>` (no `object=`): a PKCS#11 token;
 * - `https://<vault>/keys/` (trailing slash, no key name): an Azure Key Vault or managed HSM.
 * CreatePolicy takes one as `availability_key` to mean "create this policy's availability key there".
 */
export function isKeyBase(uri: string): boolean {
  if (uri === 'local' || uri === 'local:') return true;
  if (uri.startsWith('pkcs11:')) return !/(^|[:;])object=/.test(uri);
  return /^https:\/\/[^/?#]+\/keys\/$/.test(uri) || /^https:\/\/[^/?#]+\/?$/.test(uri);
}

/** The scheme of a key URI or base (text before the first ':'). */
export function schemeOf(uri: string): string {
  const colon = uri.indexOf(':');
  return colon > 0 ? uri.slice(0, colon) : uri;
}

/**
 * A name for a new key from a hint such as "tenant.policy": only the characters `allowed` keeps, at most
 * `max` characters in all, ending in a random suffix so that two policies never get the same key.
 */
export function keyNameFromHint(
  hint: string,
  suffix: string,
  opts: { allowed: RegExp; max: number; prefix?: string },
): string {
  const safe = [...hint].map((c) => (opts.allowed.test(c) ? c : '-')).join('');
  const head = `${opts.prefix ?? 'av-'}${safe}`.slice(0, Math.max(0, opts.max - suffix.length - 1));
  return `${head}-${suffix}`;
}
