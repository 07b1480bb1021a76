import type { PolicyRecord } from '../registry/policy.js';
import { findVersion } from '../registry/policy.js';

/** A cached policy, as a revocation source reports it. */
export interface PolicyRef {
  tenant: string;
  policyId: string;
}

/**
 * Customer key URI -> the cached policies whose cached key material depends on it: the one rule both the
 * periodic probe (provider-probe.ts) and the Event Grid re-check (event-grid-recheck.ts) ask the provider
 * about.
 *
 * A key counts when it holds a customer copy (customer-a or customer-b) of a version the cache holds: that
 * version's key was unwrapped through one of those copies, and a revoked customer key must take it out of
 * the cache. The availability key does not count (it is not the customer's to revoke; its use is audited).
 * The policy's current keys (`policy.keys`) do not count by themselves: they are the active version's,
 * and count when that version is cached; a key of an uncached version protects nothing in the cache.
 * Each policy is listed once per key, in the order the cache lists it; a policy gone from the registry is
 * skipped.
 */
export function customerKeyDependents(
  cached: Iterable<{ tenant: string; policyId: string; version: number }>,
  registry: { get(tenant: string, id: string): PolicyRecord | undefined },
): Map<string, PolicyRef[]> {
  const byKey = new Map<string, Map<string, PolicyRef>>();
  for (const entry of cached) {
    const policy = registry.get(entry.tenant, entry.policyId);
    const version = policy ? findVersion(policy, entry.version) : undefined;
    for (const copy of version?.copies ?? []) {
      if (copy.role !== 'customer-a' && copy.role !== 'customer-b') continue;
      const policies = byKey.get(copy.keyUri) ?? new Map<string, PolicyRef>();
      policies.set(`${entry.tenant}\u0000${entry.policyId}`, { tenant: entry.tenant, policyId: entry.policyId });
      byKey.set(copy.keyUri, policies);
    }
  }
  return new Map([...byKey].map(([uri, policies]) => [uri, [...policies.values()]]));
}
