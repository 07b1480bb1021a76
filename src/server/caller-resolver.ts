import { parseRoles, type Caller, type Role } from '../auth/caller.js';
import type { IdentityCall } from '../auth/peer-identity.js';

export type CallerResolver = (call: IdentityCall) => Caller;

/**
 * Until mTLS identities are mapped to roles, every caller gets the configured roles; the Unix socket's file
 * mode decides who can call at all. The id names the transport for logs and audit records.
 */
export function fixedRolesResolver(rolesCsv: string, identity?: (call: IdentityCall) => string): CallerResolver {
  const roles: ReadonlySet<Role> = new Set(parseRoles(rolesCsv));
  return (call) => {
    if (identity) return { id: identity(call), roles };
    const peer = call.getPeer();
    return { id: peer && !peer.startsWith('unix') ? `tcp:${peer}` : 'local', roles };
  };
}
