import type * as grpc from '@grpc/grpc-js';
import { parseRoles, type Caller, type Role } from '../auth/caller.js';

export type CallerResolver = (call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getPeer'>) => Caller;

/**
 * Until mTLS identities are mapped to roles, every caller gets the configured roles; the Unix socket's file
 * mode decides who can call at all. The id names the transport for logs and audit records.
 */
export function fixedRolesResolver(rolesCsv: string): CallerResolver {
  const roles: ReadonlySet<Role> = new Set(parseRoles(rolesCsv));
  return (call) => {
    const peer = call.getPeer();
    return { id: peer && !peer.startsWith('unix') ? `tcp:${peer}` : 'local', roles };
  };
}
