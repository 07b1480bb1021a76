import { isIPv4, isIPv6 } from 'node:net';

/**
 * Loopback addresses: 127.0.0.0/8, ::1, and 127.0.0.0/8 mapped into IPv6 (`::ffff:127.0.0.1`, how a dual-stack
 * socket reports an IPv4 peer). Names are not resolved here: only the literal `localhost` counts, and only where
 * a listen address is checked.
 */
export function isLoopbackIp(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  if (!isIPv6(address)) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(.+)$/.exec(a)?.[1];
  return mapped !== undefined && isIPv4(mapped) && mapped.startsWith('127.');
}

/**
 * The host of a `host:port` listen address (brackets of an IPv6 literal removed), or undefined for a Unix
 * socket (`unix://...`).
 */
export function listenHost(listen: string): string | undefined {
  if (listen.startsWith('unix:')) return undefined;
  const colon = listen.lastIndexOf(':');
  const host = colon < 0 ? listen : listen.slice(0, colon);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A TCP listen address reachable only from this host: a loopback literal or `localhost`. */
export function isLoopbackListen(listen: string): boolean {
  const host = listenHost(listen);
  if (host === undefined) return false;
  return host.toLowerCase() === 'localhost' || isLoopbackIp(host);
}

/**
 * The address part of a grpc-js peer string (`call.getPeer()`): `127.0.0.1:5000`, `::1:5000` (IPv6 without
 * brackets), `[::1]:5000`, or `unknown` (a Unix socket). Undefined when it holds no IP address.
 */
export function peerAddress(peer: string): string | undefined {
  // grpc-js appends the port to every TCP peer, so `::1:5000` is ::1 port 5000 (though itself valid IPv6).
  const colon = peer.lastIndexOf(':');
  if (colon > 0 && /^\d{1,5}$/.test(peer.slice(colon + 1))) {
    let host = peer.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (isIPv4(host) || isIPv6(host)) return host;
  }
  return isIPv4(peer) || isIPv6(peer) ? peer : undefined;
}
