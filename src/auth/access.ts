import {
  AccessDenied,
  describeMissing,
  hasEverything,
  hasPolicy,
  hasTenant,
  type Caller,
  type MissingGrant,
  type Role,
} from './caller.js';

/**
 * The checks every RPC makes of its caller. Each denial throws AccessDenied (PERMISSION_DENIED naming the
 * caller and the missing grant) after `onDenied` has counted and (rate-limited) audited it.
 */
export class Access {
  constructor(private readonly onDenied: (e: AccessDenied, tenant: string, policyId: string) => void = () => {}) {}

  role(caller: Caller, role: Role, method: string): void {
    if (!caller.roles.has(role)) this.#deny(caller, method, { role });
  }

  tenant(caller: Caller, tenant: string, method: string): void {
    if (!hasTenant(caller, tenant)) this.#deny(caller, method, { tenant }, tenant);
  }

  /** The tenant, then (when the caller's grant names policies) the policy. */
  policy(caller: Caller, tenant: string, policyId: string, method: string): void {
    if (!hasTenant(caller, tenant)) this.#deny(caller, method, { tenant }, tenant, policyId);
    if (!hasPolicy(caller, tenant, policyId))
      this.#deny(caller, method, { policy: `${tenant}/${policyId}` }, tenant, policyId);
  }

  /** A view of every tenant (GetStatus, Evict of everything). */
  everything(caller: Caller, method: string): void {
    if (!hasEverything(caller)) this.#deny(caller, method, { all: true });
  }

  #deny(caller: Caller, method: string, missing: MissingGrant, tenant = '*', policyId = '*'): never {
    const err = new AccessDenied(caller.id, method, missing, caller.request);
    this.onDenied(err, tenant, policyId);
    throw err;
  }
}

export { describeMissing };
