import type { IdentityCall } from '../auth/peer-identity.js';
import type { AuthorizationTable, ListenerName } from '../auth/authorization-table.js';
import type { Caller } from '../auth/caller.js';

/** What an identity source may read of a call: the peer address, the metadata, the TLS auth context. */
export type CallInfo = IdentityCall;

export type CallerResolver = (call: CallInfo) => Caller;

/**
 * Who is calling, as one string: `unix:<socket path>` (whoever can open the socket: its mode and group decide
 * who can), `tcp:<peer>` (plaintext TCP: unauthenticated), `tls:<id>` (a client certificate), `mesh:<id>` (a
 * trusted x-forwarded-client-cert). One source per listener: `listenerIdentity` (src/auth/peer-identity.ts).
 */
export type IdentitySource = (call: CallInfo) => string;

/** Identity, then the table's grants for it on this listener. */
export function callerResolver(
  identify: IdentitySource,
  table: AuthorizationTable,
  listener: ListenerName,
): CallerResolver {
  return (call) => table.caller(identify(call), listener);
}
