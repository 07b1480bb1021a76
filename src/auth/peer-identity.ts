import type * as grpc from '@grpc/grpc-js';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import { UnwrapdError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { elementIdentity, parseForwardedClientCert } from './forwarded-client-cert.js';
import { isLoopbackIp, peerAddress } from './loopback.js';

/**
 * Who is on the other end of a call, as one string, for the authorization table, the audit log and the logs:
 *
 * - `unix:<socket path>`: a call on a Unix socket listener (the socket's file mode and group decide who can
 *   connect; the kernel gives no finer identity here);
 * - `tls:<id>`: a TLS peer whose client certificate the listener's client CA verified; `<id>` is the
 *   certificate's first URI SAN (a SPIFFE id), else its first DNS SAN, else its subject CN;
 * - `mesh:<id>`: the nearest hop of `x-forwarded-client-cert`, the same order (URI, DNS, Subject CN), honoured
 *   only with `trustForwardedClientCert` and only from a loopback TCP peer (the local mesh proxy);
 * - `tcp:<address:port>`: anything else on TCP (plaintext, or TLS without a client certificate). Never a
 *   grant worth giving beyond tests: the port changes per connection.
 *
 * A verified certificate that names nobody, and a trusted forwarded header that is malformed or names nobody,
 * are refused (PERMISSION_DENIED) rather than fall back to the transport's weaker identity.
 */
export interface CallIdentityOptions {
  /** The listener's socket path when it is a Unix socket: a unix call's peer string does not carry it. */
  socketPath?: string;
  /** Honour `x-forwarded-client-cert` from a loopback TCP peer. */
  trustForwardedClientCert: boolean;
  /** Debug lines for ignored forwarded headers. */
  log?: Logger;
}

/** What of a grpc-js server call the identity needs (every kind of server call has it). */
export interface IdentityCall {
  getPeer(): string;
  /** grpc-js 1.14: `{ transportSecurityType: 'ssl', sslPeerCertificate }` for an authorized TLS peer, else `{}`. */
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate };
  readonly metadata: grpc.Metadata;
}

export const XFCC_HEADER = 'x-forwarded-client-cert';

export function callIdentity(call: IdentityCall, opts: CallIdentityOptions): string {
  const forwarded = call.metadata.get(XFCC_HEADER);
  if (opts.socketPath !== undefined) {
    if (forwarded.length > 0)
      opts.log?.debug('x-forwarded-client-cert ignored: not trusted on a Unix socket', { socket: opts.socketPath });
    return `unix:${opts.socketPath}`;
  }
  const peer = call.getPeer();
  // A client certificate the handshake verified is the caller: a forwarded header never overrides it.
  const verified = verifiedCertificateIdentity(call);
  if (verified !== undefined) {
    if (forwarded.length > 0)
      opts.log?.debug('x-forwarded-client-cert ignored: the connection has a verified client certificate', { peer });
    return `tls:${verified}`;
  }
  if (forwarded.length > 0) {
    if (!opts.trustForwardedClientCert) {
      opts.log?.debug('x-forwarded-client-cert ignored: trustForwardedClientCert is off', { peer });
    } else if (!isLoopbackPeer(peer)) {
      opts.log?.debug('x-forwarded-client-cert ignored: the peer is not loopback', { peer });
    } else {
      return `mesh:${forwardedIdentity(forwarded)}`;
    }
  }
  return `tcp:${peer}`;
}

/**
 * Identities of verified TLS connections. A connection's certificate cannot change (HTTP/2 disables TLS
 * renegotiation on its sockets), and reading it (`getPeerCertificate()`, what grpc-js's getAuthContext does
 * on every call) builds a fresh object with three fingerprints each time: tens of µs per call, so it is read
 * once per connection. Weak: a closed connection's entry goes with its socket.
 */
const connectionIdentities = new WeakMap<TLSSocket, string>();

function verifiedCertificateIdentity(call: IdentityCall): string | undefined {
  const socket = transportSocket(call);
  if (socket instanceof TLSSocket) {
    // The same rule as grpc-js's getAuthContext: only a certificate the handshake verified.
    if (!socket.authorized) return undefined;
    let id = connectionIdentities.get(socket);
    if (id === undefined) {
      const cert = socket.getPeerCertificate();
      if (!cert?.raw) return undefined;
      id = certificateIdentity(cert);
      connectionIdentities.set(socket, id);
    }
    return id;
  }
  if (socket !== undefined) return undefined; // plaintext TCP
  // Not a grpc-js 1.14 call shape (a synthetic call, another grpc-js): the public, slower path.
  const cert = call.getAuthContext().sslPeerCertificate;
  return cert ? certificateIdentity(cert) : undefined;
}

/**
 * The transport socket of a grpc-js server call, through its internals (grpc-js 1.14:
 * `call.call[.nextCall...].stream.session.socket`); undefined when the shape is not found. A test
 * (test/mtls.test.ts) fails if an upgrade moves it, rather than mTLS calls silently taking the slow path.
 */
export function transportSocket(call: object): unknown {
  let inner: unknown = (call as { call?: unknown }).call;
  for (let hop = 0; inner !== null && typeof inner === 'object' && hop < 8; hop++) {
    const stream = (inner as { stream?: { session?: { socket?: unknown } } }).stream;
    if (stream !== undefined) return stream.session?.socket;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/**
 * One identity function per listener: `listen` is `unix:///path` or `host:port` (the listener's own address,
 * which tells a Unix socket's path).
 */
export function listenerIdentity(
  listen: string,
  settings: { trustForwardedClientCert: boolean },
  log?: Logger,
): (call: IdentityCall) => string {
  const opts: CallIdentityOptions = {
    trustForwardedClientCert: settings.trustForwardedClientCert,
    ...(log ? { log } : {}),
  };
  if (!listen.startsWith('unix://')) return (call) => callIdentity(call, opts);
  // Every caller on a Unix socket is the socket: one constant string (the authorization table's cache is
  // keyed by it); callIdentity only runs to note an ignored forwarded header.
  opts.socketPath = listen.slice('unix://'.length);
  const id = `unix:${opts.socketPath}`;
  return (call) => (call.metadata.get(XFCC_HEADER).length > 0 ? callIdentity(call, opts) : id);
}

export function isLoopbackPeer(peer: string): boolean {
  const address = peerAddress(peer);
  return address !== undefined && isLoopbackIp(address);
}

/**
 * Identities of trusted headers, by the header's text (a proxy sends the same header for every call of a
 * client): '' for a header that is refused. Bounded; cleared when full.
 */
const forwardedIdentities = new Map<string, string>();
const MAX_CACHED_HEADERS = 256;

/** The identity of the nearest hop of a trusted header (several header lines are one list, in order). */
function forwardedIdentity(values: grpc.MetadataValue[]): string {
  const header =
    values.length === 1 && typeof values[0] === 'string'
      ? values[0]
      : values.map((v) => (typeof v === 'string' ? v : '')).join(',');
  let id = forwardedIdentities.get(header);
  if (id === undefined) {
    const elements = parseForwardedClientCert(header);
    id = elements ? (elementIdentity(elements[elements.length - 1]!) ?? '') : '';
    if (forwardedIdentities.size >= MAX_CACHED_HEADERS) forwardedIdentities.clear();
    forwardedIdentities.set(header, id);
  }
  if (id === '')
    throw new UnwrapdError(
      'permission_denied',
      'x-forwarded-client-cert from the local proxy is malformed, too large, or names no URI, DNS or Subject CN; refused',
    );
  return id;
}

/**
 * Identities of verified certificates, by SHA-256 fingerprint: a connection's certificate is read on each of its
 * calls, and the same few clients call again and again. Bounded; cleared when full.
 */
const certIdentities = new Map<string, string>();
const MAX_CACHED_CERTS = 1024;

/** URI SAN, else DNS SAN, else the most specific subject CN, of a verified peer certificate. */
export function certificateIdentity(cert: PeerCertificate): string {
  const key = cert.fingerprint256;
  const hit = key ? certIdentities.get(key) : undefined;
  if (hit !== undefined) return hit;
  const id = readCertificateIdentity(cert);
  if (key) {
    if (certIdentities.size >= MAX_CACHED_CERTS) certIdentities.clear();
    certIdentities.set(key, id);
  }
  return id;
}

function readCertificateIdentity(cert: PeerCertificate): string {
  const sans = cert.subjectaltname ? parseSubjectAltName(cert.subjectaltname) : [];
  if (!sans)
    throw new UnwrapdError('permission_denied', "the client certificate's subjectAltName could not be read; refused");
  const uri = sans.find(([type, v]) => type === 'URI' && v.length > 0);
  if (uri) return uri[1];
  const dns = sans.find(([type, v]) => type === 'DNS' && v.length > 0);
  if (dns) return dns[1];
  const cn: unknown = cert.subject?.CN;
  // Several CNs: the last is the most specific (RFC 6125 6.4.4).
  const name = Array.isArray(cn) ? cn[cn.length - 1] : cn;
  if (typeof name === 'string' && name.length > 0) return name;
  throw new UnwrapdError('permission_denied', 'the client certificate names no URI SAN, DNS SAN or CN; refused');
}

/**
 * Node's `subjectaltname` string: `TYPE:value` entries joined by `, `, a value holding a comma, quote or other
 * special character written as a JSON string (Node >= 17.3.1/16.13.2). Undefined when it does not parse.
 */
export function parseSubjectAltName(s: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) return undefined;
    const type = s.slice(i, colon);
    i = colon + 1;
    let value: string;
    if (s[i] === '"') {
      let end = i + 1;
      while (end < s.length && s[end] !== '"') end += s[end] === '\\' ? 2 : 1;
      if (end >= s.length) return undefined;
      try {
        value = JSON.parse(s.slice(i, end + 1)) as string;
      } catch {
        return undefined;
      }
      i = end + 1;
    } else {
      const next = s.indexOf(', ', i);
      const end = next < 0 ? s.length : next;
      value = s.slice(i, end);
      i = end;
    }
    out.push([type, value]);
    if (i < s.length) {
      if (!s.startsWith(', ', i)) return undefined;
      i += 2;
    }
  }
  return out;
}
