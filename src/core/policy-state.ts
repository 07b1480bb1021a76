import { UnwrapdError } from '../errors.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { PolicyRecord } from '../registry/policy.js';

/** The policy, or NOT_FOUND: the one "no policy" of the core's look-ups by name. */
export function requirePolicy(registry: Pick<PolicyRegistry, 'get'>, tenant: string, id: string): PolicyRecord {
  const policy = registry.get(tenant, id);
  if (!policy) throw new UnwrapdError('not_found', `no policy ${tenant}/${id}`);
  return policy;
}

/** Throws FAILED_PRECONDITION unless the policy may serve encrypt/decrypt now. */
export function requireUsable(policy: PolicyRecord): void {
  switch (policy.state) {
    case 'active':
    case 'rolling':
      return;
    case 'revoked':
      throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} is revoked`);
    case 'purged':
      throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} is purged`);
    case 'registering':
      throw new UnwrapdError('failed_precondition', `policy ${policy.tenant}/${policy.id} is still registering`);
  }
}

/** Whether the policy serves encrypt/decrypt through its customer keys now (its registry state alone). */
export function isServing(policy: PolicyRecord): boolean {
  return policy.state === 'active' || policy.state === 'rolling';
}
