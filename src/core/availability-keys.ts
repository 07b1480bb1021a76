import { unpinned } from '../providers/key-uri.js';
import type { PolicyRecord } from '../registry/policy.js';

/**
 * Each policy has its own availability key, so that destroying it at purge (crypto-shredding) makes every
 * copy of the policy's intermediate keys that was ever wrapped under it unreadable: in the registry, its
 * backups, PostgreSQL's history. These helpers tell which keys a policy's availability copies depend on,
 * and which other policies use a key (a key another policy uses is never destroyed).
 *
 * A key is compared without its version (`local:name`, `https://vault/keys/name`, a pinned PKCS#11 URI):
 * destroying a key destroys every version.
 */
export function keyIdentity(uri: string): string {
  return unpinned(uri);
}

/** The availability keys (without versions) the policy names or holds copies under. */
export function availabilityKeysOf(policy: PolicyRecord): string[] {
  const keys = new Set<string>([keyIdentity(policy.keys.availability)]);
  for (const v of policy.versions)
    for (const c of v.copies) if (c.role === 'availability') keys.add(keyIdentity(c.keyUri));
  return [...keys];
}

/** Every key (without versions, any role) the policy names or holds copies under. */
function keysReferencedBy(policy: PolicyRecord): Set<string> {
  const keys = new Set<string>(Object.values(policy.keys).map(keyIdentity));
  for (const v of policy.versions) for (const c of v.copies) keys.add(keyIdentity(c.keyUri));
  return keys;
}

/**
 * The other policies (not purged) that reference `keyUri`, in any role. A purged policy's tombstone still
 * names its keys but holds no copy under them, so it does not count.
 */
export function otherPoliciesUsing(
  policies: readonly PolicyRecord[],
  keyUri: string,
  self: { tenant: string; id: string },
): PolicyRecord[] {
  const key = keyIdentity(keyUri);
  return policies.filter(
    (p) => !(p.tenant === self.tenant && p.id === self.id) && p.state !== 'purged' && keysReferencedBy(p).has(key),
  );
}

/** "t/a, t/b and 3 more" for messages. */
export function describePolicies(policies: readonly PolicyRecord[], max = 3): string {
  const names = policies.slice(0, max).map((p) => `${p.tenant}/${p.id}`);
  return policies.length > max ? `${names.join(', ')} and ${policies.length - max} more` : names.join(', ');
}

/** A name hint for a policy's own key: "tenant.policy". Providers make it safe and add a random suffix. */
export function availabilityKeyHint(tenant: string, id: string): string {
  return `${tenant}.${id}`;
}
