import { UnwrapdError } from '../errors.js';
import type { PolicyRecord } from '../registry/policy.js';

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
