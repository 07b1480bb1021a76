import type { IdentityCall } from '../auth/peer-identity.js';
import type { AuthorizationTable, ListenerName } from '../auth/authorization-table.js';
import type { Caller } from '../auth/caller.js';

/** What an identity source may read of a call: the peer address, the metadata, the TLS auth context. */
export type CallInfo = IdentityCall;

export type CallerResolver = (call: CallInfo) => Caller;

/**
 * Who is calling, as one string: `unix:<socket path>` (whoever can open the socket: its mode and group decide
 * who can), `tcp:<peer>` (plaintext TCP: unauthenticated), `tls:<id>` (a client certificate), `mesh:<id>` (a
 * trusted x-forwarded-client-cert). One source per listener; TLS and mesh sources plug in here.
 */
export type IdentitySource = (call: CallInfo) => string;

/** Every caller on a Unix socket is the socket: a constant, so the lookup below is one Map hit. */
export function unixSocketIdentity(socketPath: string): IdentitySource {
  const id = `unix:${socketPath}`;
  return () => id;
}

/** Plaintext TCP: the peer address, which proves nothing (loopback only, or acknowledged insecure). */
export function tcpPeerIdentity(): IdentitySource {
  return (call) => `tcp:${call.getPeer() || 'unknown'}`;
}

/** The identity source for a listen address when nothing better (TLS, mesh) is configured. */
export function defaultIdentitySource(listen: string): IdentitySource {
  return listen.startsWith('unix://') ? unixSocketIdentity(listen.slice('unix://'.length)) : tcpPeerIdentity();
}

/** Identity, then the table's grants for it on this listener. */
export function callerResolver(identify: IdentitySource, table: AuthorizationTable, listener: ListenerName): CallerResolver {
  return (call) => table.caller(identify(call), listener);
}
