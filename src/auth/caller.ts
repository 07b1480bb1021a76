import { UnwrapdError } from '../errors.js';

/**
 * Who is calling and what they may do. Roles: `user` (encrypt/decrypt), `system` (may claim the `system`
 * purpose, which the availability-key rules honour after a revocation: indexing, anti-malware, moves),
 * `admin` (the Admin service). Until mTLS identities arrive, every caller that can open the Unix socket (its
 * file mode decides who can) gets the configured `callerRoles`.
 */
export type Role = 'user' | 'system' | 'admin';
export const ROLES: readonly Role[] = ['user', 'system', 'admin'];

export interface Caller {
  id: string;
  roles: ReadonlySet<Role>;
}

export function parseRoles(raw: string): Role[] {
  const roles = raw
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  for (const r of roles) if (!ROLES.includes(r as Role)) throw new Error(`unknown role "${r}" (roles: ${ROLES.join(', ')})`);
  return roles as Role[];
}

export function requireRole(caller: Caller, role: Role, what: string): void {
  if (!caller.roles.has(role)) throw new UnwrapdError('permission_denied', `${what} needs the ${role} role; caller ${caller.id} has ${[...caller.roles].join(', ') || 'none'}`);
}
