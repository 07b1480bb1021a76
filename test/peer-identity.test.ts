import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import type { PeerCertificate } from 'node:tls';
import {
  elementIdentity,
  MAX_XFCC_ELEMENTS,
  MAX_XFCC_LENGTH,
  parseForwardedClientCert,
  subjectCommonName,
} from '../src/auth/forwarded-client-cert.js';
import { isLoopbackIp, isLoopbackListen, peerAddress } from '../src/auth/loopback.js';
import { callIdentity, parseSubjectAltName, type IdentityCall } from '../src/auth/peer-identity.js';
import { createLogger } from '../src/log/logger.js';

// ---- x-forwarded-client-cert parsing -----------------------------------------------------------------

const ENVOY =
  'By=spiffe://cluster.local/ns/keys/sa/unwrapd;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="CN=store,OU=Mail,O=Example";URI=spiffe://cluster.local/ns/mail/sa/store;DNS=store.mail.svc';

test('an Envoy XFCC element parses into its keys, case-insensitively, and names its URI', (t) => {
  const els = parseForwardedClientCert(ENVOY.replace('URI=', 'uri='))!;
  t.is(els.length, 1);
  t.deepEqual(els[0]!.get('subject'), ['CN=store,OU=Mail,O=Example']);
  t.deepEqual(els[0]!.get('uri'), ['spiffe://cluster.local/ns/mail/sa/store']);
  t.is(elementIdentity(els[0]!), 'spiffe://cluster.local/ns/mail/sa/store');
});

test('XFCC identity order is URI, then DNS, then the Subject CN', (t) => {
  t.is(
    elementIdentity(parseForwardedClientCert('Hash=ab;DNS=a.example;DNS=b.example;Subject="CN=c"')![0]!),
    'a.example',
  );
  t.is(
    elementIdentity(parseForwardedClientCert('Hash=ab;Subject="CN=legacy client,O=Example\\, Inc."')![0]!),
    'legacy client',
  );
  t.is(
    elementIdentity(parseForwardedClientCert('Hash=ab;Subject="/O=Example/OU=Mail/CN=old-style"')![0]!),
    'old-style',
  );
  t.is(elementIdentity(parseForwardedClientCert('By=spiffe://x;Hash=ab')![0]!), undefined);
});

test('quoted XFCC values keep commas, semicolons, equals signs and escaped quotes', (t) => {
  const els = parseForwardedClientCert('Subject="CN=a \\"quoted\\" name;x=y,O=z";URI="spiffe://td/a,b"')!;
  t.is(els.length, 1);
  t.deepEqual(els[0]!.get('subject'), ['CN=a "quoted" name;x=y,O=z']);
  t.is(elementIdentity(els[0]!), 'spiffe://td/a,b');
  t.is(subjectCommonName('CN=a "quoted" name;x=y,O=z'), 'a "quoted" name;x=y');
});

test('several XFCC elements (hops) parse in order; several header lines joined with ", " too', (t) => {
  const els = parseForwardedClientCert(
    'By=spiffe://edge;URI=spiffe://td/first,By=spiffe://mid;URI=spiffe://td/nearest',
  )!;
  t.deepEqual(
    els.map((e) => elementIdentity(e)),
    ['spiffe://td/first', 'spiffe://td/nearest'],
  );
  const joined = parseForwardedClientCert('URI=spiffe://td/first, URI=spiffe://td/nearest')!;
  t.deepEqual(
    joined.map((e) => elementIdentity(e)),
    ['spiffe://td/first', 'spiffe://td/nearest'],
  );
});

test('malformed XFCC headers are refused (undefined), never thrown', (t) => {
  for (const bad of [
    '',
    'garbage',
    'URI',
    '=spiffe://x',
    'URI=spiffe://x;',
    'URI=spiffe://x,',
    'URI=spiffe://x,,URI=y',
    'URI="unterminated',
    'URI="ends in escape\\',
    'URI="x"trailing',
    'URI=a"b',
    'URI=a=b',
    'U-RI=x',
    'URI=line\nbreak',
    'URI="tab\tinside"',
    '\u0000',
    ';;;',
    ',',
  ]) {
    t.notThrows(() => parseForwardedClientCert(bad));
    t.is(parseForwardedClientCert(bad), undefined, JSON.stringify(bad));
  }
});

test('XFCC parsing is bounded: an oversize header and too many elements or pairs are refused', (t) => {
  const long = `URI=spiffe://td/${'a'.repeat(MAX_XFCC_LENGTH)}`;
  t.is(parseForwardedClientCert(long), undefined);
  const hops = (n: number) => Array.from({ length: n }, (_, i) => `URI=spiffe://td/${i}`).join(',');
  t.is(parseForwardedClientCert(hops(MAX_XFCC_ELEMENTS))!.length, MAX_XFCC_ELEMENTS);
  t.is(parseForwardedClientCert(hops(MAX_XFCC_ELEMENTS + 1)), undefined);
  t.is(parseForwardedClientCert(Array.from({ length: 33 }, () => 'DNS=a').join(';')), undefined);
  // A random soup of the syntax's own characters never throws.
  const alphabet = 'URI=;,"\\ab ';
  let seed = 7;
  for (let n = 0; n < 2000; n++) {
    let s = '';
    for (let i = 0; i < 24; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s += alphabet[seed % alphabet.length];
    }
    t.notThrows(() => parseForwardedClientCert(s));
  }
});

// ---- loopback ------------------------------------------------------------------------------------------

test('loopback means 127.0.0.0/8, ::1 and IPv4-mapped 127/8; nothing else', (t) => {
  for (const a of [
    '127.0.0.1',
    '127.255.0.9',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.6',
    '0:0:0:0:0:ffff:127.0.0.1',
  ])
    t.true(isLoopbackIp(a), a);
  for (const a of ['10.0.0.1', '0.0.0.0', '::', '::ffff:10.0.0.1', '128.0.0.1', 'localhost', '::2', 'fe80::1'])
    t.false(isLoopbackIp(a), a);
  for (const l of ['127.0.0.1:7443', 'localhost:0', '[::1]:7443', 'LOCALHOST:1']) t.true(isLoopbackListen(l), l);
  for (const l of [
    '0.0.0.0:7443',
    '[::]:7443',
    'example.org:7443',
    '10.1.2.3:1',
    'unix:///tmp/x.sock',
    'localhost.example.org:1',
  ])
    t.false(isLoopbackListen(l), l);
});

test('grpc-js peer strings split into the address: IPv6 without brackets is address then port', (t) => {
  t.is(peerAddress('127.0.0.1:5000'), '127.0.0.1');
  t.is(peerAddress('::1:5000'), '::1');
  t.is(peerAddress('[::1]:5000'), '::1');
  t.is(peerAddress('::ffff:127.0.0.1:40000'), '::ffff:127.0.0.1');
  t.is(peerAddress('10.0.0.7:443'), '10.0.0.7');
  t.is(peerAddress('unknown'), undefined);
  t.is(peerAddress('host.example:80'), undefined);
});

// ---- callIdentity on synthetic calls (the address a real test may not use: a non-loopback peer) -------------

function fakeCall(peer: string, o: { xfcc?: string[]; cert?: Partial<PeerCertificate> } = {}): IdentityCall {
  const metadata = new grpc.Metadata();
  for (const v of o.xfcc ?? []) metadata.add('x-forwarded-client-cert', v);
  return {
    getPeer: () => peer,
    getAuthContext: () =>
      o.cert ? { transportSecurityType: 'ssl', sslPeerCertificate: o.cert as PeerCertificate } : {},
    metadata,
  };
}

const XFCC = 'By=spiffe://td/unwrapd;Hash=ab;URI=spiffe://td/ns/mail/sa/store';

test('x-forwarded-client-cert is ignored from a non-loopback peer even when trusted, and says so in debug logs', (t) => {
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l));
  t.is(
    callIdentity(fakeCall('10.1.2.3:41000', { xfcc: [XFCC] }), { trustForwardedClientCert: true, log }),
    'tcp:10.1.2.3:41000',
  );
  t.is(
    callIdentity(fakeCall('::ffff:10.1.2.3:41000', { xfcc: [XFCC] }), { trustForwardedClientCert: true, log }),
    'tcp:::ffff:10.1.2.3:41000',
  );
  t.regex(lines[0]!, /x-forwarded-client-cert ignored: the peer is not loopback/);
});

test('x-forwarded-client-cert is ignored when not configured, and on a Unix socket', (t) => {
  t.is(
    callIdentity(fakeCall('127.0.0.1:41000', { xfcc: [XFCC] }), { trustForwardedClientCert: false }),
    'tcp:127.0.0.1:41000',
  );
  t.is(
    callIdentity(fakeCall('unknown', { xfcc: [XFCC] }), {
      trustForwardedClientCert: true,
      socketPath: '/run/u/unwrapd.sock',
    }),
    'unix:/run/u/unwrapd.sock',
  );
});

test('x-forwarded-client-cert from a loopback peer, when trusted, names the nearest hop as mesh:<id>', (t) => {
  const opts = { trustForwardedClientCert: true };
  t.is(callIdentity(fakeCall('127.0.0.6:41000', { xfcc: [XFCC] }), opts), 'mesh:spiffe://td/ns/mail/sa/store');
  t.is(
    callIdentity(fakeCall('::1:41000', { xfcc: ['URI=spiffe://td/far', 'DNS=near.example'] }), opts),
    'mesh:near.example',
  );
  // A verified client certificate is the caller: a header never overrides it (any local process could write one).
  t.is(
    callIdentity(
      fakeCall('127.0.0.1:41000', {
        xfcc: [XFCC],
        cert: { subjectaltname: 'URI:spiffe://td/proxy', fingerprint256: 'P1' },
      }),
      opts,
    ),
    'tls:spiffe://td/proxy',
  );
});

test('a trusted x-forwarded-client-cert that is malformed, oversize or names nobody is refused, not downgraded', (t) => {
  const opts = { trustForwardedClientCert: true };
  for (const bad of ['garbage', `URI=${'x'.repeat(MAX_XFCC_LENGTH)}`, 'By=spiffe://td/unwrapd;Hash=ab']) {
    const err = t.throws(() => callIdentity(fakeCall('127.0.0.1:41000', { xfcc: [bad] }), opts));
    t.is((err as { code?: string }).code, 'permission_denied');
  }
});

test('a verified certificate is tls:<URI SAN>, else tls:<DNS SAN>, else tls:<CN>', (t) => {
  const opts = { trustForwardedClientCert: false };
  const id = (cert: Partial<PeerCertificate>) => callIdentity(fakeCall('10.0.0.1:1', { cert }), opts);
  t.is(
    id({
      fingerprint256: 'A',
      subjectaltname: 'DNS:store.example, URI:spiffe://td/store',
      subject: { CN: 'store' } as PeerCertificate['subject'],
    }),
    'tls:spiffe://td/store',
  );
  t.is(
    id({
      fingerprint256: 'B',
      subjectaltname: 'IP Address:10.0.0.1, DNS:store.example',
      subject: { CN: 'store' } as PeerCertificate['subject'],
    }),
    'tls:store.example',
  );
  t.is(id({ fingerprint256: 'C', subject: { CN: 'legacy' } as PeerCertificate['subject'] }), 'tls:legacy');
  t.is(
    id({ fingerprint256: 'D', subject: { CN: ['outer', 'inner'] } as unknown as PeerCertificate['subject'] }),
    'tls:inner',
  );
  t.throws(() => id({ fingerprint256: 'E', subject: { O: 'nobody' } as unknown as PeerCertificate['subject'] }), {
    message: /names no URI SAN, DNS SAN or CN/,
  });
  t.is(callIdentity(fakeCall('10.0.0.1:1'), opts), 'tcp:10.0.0.1:1');
});

test("Node's subjectaltname string parses, JSON-quoted values included", (t) => {
  t.deepEqual(parseSubjectAltName('URI:spiffe://td/a, DNS:b.example'), [
    ['URI', 'spiffe://td/a'],
    ['DNS', 'b.example'],
  ]);
  t.deepEqual(parseSubjectAltName('URI:"spiffe://td/a, DNS:evil", DNS:b.example'), [
    ['URI', 'spiffe://td/a, DNS:evil'],
    ['DNS', 'b.example'],
  ]);
  t.is(parseSubjectAltName('URI:"unterminated'), undefined);
  t.is(parseSubjectAltName('nocolon'), undefined);
});
