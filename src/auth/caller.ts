import { UnwrapdError, type UnwrapdErrorOptions } from '../errors.js';
import type { RequestTag } from '../log/request-context.js';

/**
 * Who is calling and what they may do. Roles: `user` (encrypt/decrypt), `system` (may claim the `system`
 * purpose, which the availability-key rules honour after a revocation: indexing, anti-malware, moves),
 * `admin` (the Admin service), `recovery` (the irreversible or key-choosing operations: RollKey/Refresh with
 * `recovery`, a forced Purge; `admin` does not imply it). docs/security.md has the model.
 */
export type Role = 'user' | 'system' | 'admin' | 'recovery';
export const ROLES: readonly Role[] = ['user', 'system', 'admin', 'recovery'];

/** `*`: every tenant (or every policy); else the exact names granted. Policies are `tenant/policy` keys. */
export type NameGrant = '*' | ReadonlySet<string>;

export interface Caller {
  /** `unix:<socket path>`, `tcp:<peer>`, `tls:<certificate identity>`, `mesh:<forwarded identity>`. */
  id: string;
  roles: ReadonlySet<Role>;
  tenants: NameGrant;
  /** Undefined: every policy of a granted tenant. A set holds `tenant/policy` and `tenant/*` keys. */
  policies?: ReadonlySet<string>;
  /** The request this view of the caller acts in (set per call at the edge): a denial is logged and audited with it. */
  request?: RequestTag;
}

/**
 * The caller as seen by one request (the resolved Caller is shared by every call of that identity). Fields
 * copied by name: an object spread costs microseconds here, on every call.
 */
export function inRequest(caller: Caller, request: RequestTag): Caller {
  return { id: caller.id, roles: caller.roles, tenants: caller.tenants, policies: caller.policies, request };
}

export function parseRoles(raw: string): Role[] {
  const roles = raw
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  for (const r of roles)
    if (!ROLES.includes(r as Role)) throw new Error(`unknown role "${r}" (roles: ${ROLES.join(', ')})`);
  return roles as Role[];
}

export function hasTenant(caller: Caller, tenant: string): boolean {
  return caller.tenants === '*' || caller.tenants.has(tenant);
}

export function hasPolicy(caller: Caller, tenant: string, policyId: string): boolean {
  if (!hasTenant(caller, tenant)) return false;
  const p = caller.policies;
  return p === undefined || p.has(`${tenant}/${policyId}`) || p.has(`${tenant}/*`);
}

/** Every tenant and every policy: what a fleet-wide view (GetStatus, Evict of everything) needs. */
export function hasEverything(caller: Caller): boolean {
  return caller.tenants === '*' && caller.policies === undefined;
}

/** What a denial lacks, for the message and the audit record: a role, or a tenant or policy the caller named. */
export type MissingGrant = { role: Role } | { tenant: string } | { policy: string } | { all: true };

/** The reason and metadata of a denial: which grant is missing (the names the caller itself sent). */
function deniedDetails(m: MissingGrant): UnwrapdErrorOptions {
  if ('role' in m) return { reason: 'ROLE_NOT_GRANTED', metadata: { role: m.role } };
  if ('tenant' in m) return { reason: 'TENANT_NOT_ALLOWED', metadata: { tenant: m.tenant } };
  if ('policy' in m) {
    const [tenant, policyId] = m.policy.split('/'); // "<tenant>/<policy id>": ids have no '/'
    return { reason: 'POLICY_NOT_ALLOWED', metadata: { tenant, policy_id: policyId } };
  }
  return { reason: 'PERMISSION_DENIED' };
}

export function describeMissing(m: MissingGrant): string {
  if ('role' in m) return `the ${m.role} role`;
  if ('tenant' in m) return `tenant "${m.tenant}"`;
  if ('policy' in m) return `policy "${m.policy}"`;
  return 'every tenant';
}

/** A PERMISSION_DENIED that names the caller and the missing grant (only names the caller itself sent). */
export class AccessDenied extends UnwrapdError {
  constructor(
    readonly caller: string,
    readonly method: string,
    readonly missing: MissingGrant,
    /** The request that was refused (its id and trace id go into the denial's log line and audit record). */
    readonly request?: RequestTag,
  ) {
    super('permission_denied', `${method}: caller ${caller} lacks ${describeMissing(missing)}`, deniedDetails(missing));
  }
}
