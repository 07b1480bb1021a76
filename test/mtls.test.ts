import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { callIdentity, transportSocket } from '../src/auth/peer-identity.js';
import { UnwrapdClient } from '../src/client/client.js';
import type { Config } from '../src/config/config.js';
import { createLogger } from '../src/log/logger.js';
import { mtlsCa, SPIFFE_ID, type KeyPair } from './helpers/mtls-ca.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * mTLS and forwarded identities through a real daemon on real TCP sockets on 127.0.0.1. The caller identity is
 * observed where an operator sees it: the actor of the audit record an Admin call (Evict) writes.
 */

interface TlsFiles {
  dir: string;
  settings: Partial<Config>;
}

async function tlsFiles(): Promise<TlsFiles> {
  const ca = mtlsCa();
  const dir = await mkdtemp(join(tmpdir(), 'uwd-tls-'));
  await writeFile(join(dir, 'server.pem'), ca.server.certPem);
  await writeFile(join(dir, 'server.key'), ca.server.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'clients-ca.pem'), ca.caPem);
  return {
    dir,
    settings: {
      tlsCertFile: join(dir, 'server.pem'),
      tlsKeyFile: join(dir, 'server.key'),
      tlsClientCaFile: join(dir, 'clients-ca.pem'),
    },
  };
}

const ADMIN_ENTRY = [{ identity: 'admin', roles: ['admin' as const], tenants: ['*'] }];

async function withDaemon(settings: Partial<Config>, fn: (d: TestDaemon) => Promise<void>): Promise<void> {
  // On TCP the admin listener gives no default roles: the table's `admin` entry grants them here.
  const d = await startTestDaemon({
    listen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    authorization: ADMIN_ENTRY,
    ...settings,
  });
  try {
    await fn(d);
  } finally {
    await d.stop();
  }
}

function tlsClient(d: TestDaemon, pair?: KeyPair, caPem = mtlsCa().caPem): UnwrapdClient {
  const creds = pair
    ? grpc.credentials.createSsl(Buffer.from(caPem), Buffer.from(pair.keyPem), Buffer.from(pair.certPem))
    : grpc.credentials.createSsl(Buffer.from(caPem));
  return new UnwrapdClient(d.daemon.adminAddress, { credentials: creds, deadlineMs: 15_000 });
}

/** The actor the daemon recorded for an Evict made by `client` (the last cache.evicted record). */
async function actorOf(d: TestDaemon, client: UnwrapdClient, metadata?: grpc.Metadata): Promise<string> {
  try {
    await client.evict({ tenant: 'demo' }, metadata ? { metadata } : {});
  } finally {
    client.close();
  }
  const records = (await readFile(d.config.auditLogPath, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; actor?: string });
  const last = records.filter((r) => r.type === 'cache.evicted').pop();
  if (!last?.actor) throw new Error('no cache.evicted record with an actor');
  return last.actor;
}

test('with a client CA, mTLS is required: no certificate, an expired one and one from another CA fail the handshake (UNAVAILABLE)', async (t) => {
  const files = await tlsFiles();
  const ca = mtlsCa();
  try {
    await withDaemon(files.settings, async (d) => {
      for (const [what, client] of [
        ['no certificate', tlsClient(d)],
        ['expired', tlsClient(d, ca.expired)],
        ['another CA', tlsClient(d, ca.otherCa)],
      ] as const) {
        const { code } = await codeOf(client.evict({ tenant: 'demo' }));
        client.close();
        t.is(code, grpc.status.UNAVAILABLE, what);
      }
      // The same daemon serves a valid certificate: the refusals above were the certificates, not the setup.
      t.is(await actorOf(d, tlsClient(d, ca.spiffe)), `tls:${SPIFFE_ID}`);
    });
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
});

test('a verified client certificate is the caller: tls:<URI SAN>, else tls:<DNS SAN>, else tls:<CN>', async (t) => {
  const files = await tlsFiles();
  const ca = mtlsCa();
  try {
    await withDaemon(files.settings, async (d) => {
      t.is(await actorOf(d, tlsClient(d, ca.spiffe)), 'tls:spiffe://example.org/ns/mail/sa/store');
      t.is(await actorOf(d, tlsClient(d, ca.dnsOnly)), 'tls:indexer.mail.example.org');
      t.is(await actorOf(d, tlsClient(d, ca.cnOnly)), 'tls:legacy-client');
    });
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
});

test('x-forwarded-client-cert never overrides a verified client certificate, trusted or not: the certificate decides', async (t) => {
  const files = await tlsFiles();
  try {
    for (const trustForwardedClientCert of [false, true]) {
      await withDaemon({ ...files.settings, trustForwardedClientCert }, async (d) => {
        const md = new grpc.Metadata();
        md.set('x-forwarded-client-cert', 'By=spiffe://td/unwrapd;Hash=ab;URI=spiffe://example.org/ns/admin/sa/root');
        t.is(
          await actorOf(d, tlsClient(d, mtlsCa().dnsOnly), md),
          'tls:indexer.mail.example.org',
          `trustForwardedClientCert=${trustForwardedClientCert}`,
        );
      });
    }
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
});

const XFCC =
  'By=spiffe://cluster.local/ns/keys/sa/unwrapd;Hash=468ed33b;Subject="CN=store,O=Mail";URI=spiffe://cluster.local/ns/mail/sa/store';

test('x-forwarded-client-cert from the loopback proxy is honoured when trusted (mesh:<URI>), ignored when not', async (t) => {
  const md = () => {
    const m = new grpc.Metadata();
    m.set('x-forwarded-client-cert', XFCC);
    return m;
  };
  await withDaemon({ trustForwardedClientCert: true }, async (d) => {
    t.is(
      await actorOf(d, new UnwrapdClient(d.daemon.adminAddress), md()),
      'mesh:spiffe://cluster.local/ns/mail/sa/store',
    );
    // Without the header the loopback peer is just itself.
    t.regex(await actorOf(d, new UnwrapdClient(d.daemon.adminAddress)), /^tcp:127\.0\.0\.1:\d+$/);
    // A malformed header from the trusted proxy is refused, not downgraded to the proxy's identity.
    const bad = new grpc.Metadata();
    bad.set('x-forwarded-client-cert', 'URI="unterminated');
    const client = new UnwrapdClient(d.daemon.adminAddress);
    t.is((await codeOf(client.evict({ tenant: 'demo' }, { metadata: bad }))).code, grpc.status.PERMISSION_DENIED);
    client.close();
  });
  await withDaemon({}, async (d) => {
    t.regex(await actorOf(d, new UnwrapdClient(d.daemon.adminAddress), md()), /^tcp:127\.0\.0\.1:\d+$/);
  });
});

test('a Unix socket caller is unix:<socket path>, and x-forwarded-client-cert is ignored there', async (t) => {
  const d = await startTestDaemon({ trustForwardedClientCert: true });
  try {
    const m = new grpc.Metadata();
    m.set('x-forwarded-client-cert', XFCC);
    t.is(
      await actorOf(d, new UnwrapdClient(d.daemon.adminAddress), m),
      `unix:${d.daemon.adminAddress.slice('unix://'.length)}`,
    );
  } finally {
    await d.stop();
  }
});

test('a peer refused at the handshake never reaches a handler, and the start says mTLS is required', async (t) => {
  const files = await tlsFiles();
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l));
  try {
    const d = await startTestDaemon({ listen: '127.0.0.1:0', adminListen: '127.0.0.1:0', ...files.settings }, { log });
    try {
      const client = tlsClient(d, mtlsCa().otherCa);
      t.is((await codeOf(client.evict({ tenant: 'demo' }))).code, grpc.status.UNAVAILABLE);
      client.close();
      t.false(lines.some((l) => l.includes('cache evicted')));
      t.true(lines.some((l) => l.includes('mTLS required')));
    } finally {
      await d.stop();
    }
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
});

test("grpc-js still exposes a call's TLS socket (mTLS identity is read once per connection, not per call)", async (t) => {
  const ca = mtlsCa();
  const bytes = {
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  };
  const service = {
    unary: { path: '/t.T/Unary', requestStream: false, responseStream: false, ...bytes },
    bidi: { path: '/t.T/Bidi', requestStream: true, responseStream: true, ...bytes },
  } as unknown as grpc.ServiceDefinition;
  const seen: Array<{ tls: boolean; id: string }> = [];
  const note = (call: object & Parameters<typeof callIdentity>[0]) =>
    seen.push({
      tls: transportSocket(call) instanceof TLSSocket,
      id: callIdentity(call, { trustForwardedClientCert: false }),
    });
  const server = new grpc.Server();
  server.addService(service, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      note(call);
      cb(null, Buffer.alloc(0));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      note(call);
      call.on('data', () => {});
      call.on('end', () => call.end());
    },
  });
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(ca.caPem),
    [{ cert_chain: Buffer.from(ca.server.certPem), private_key: Buffer.from(ca.server.keyPem) }],
    true,
  );
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))),
  );
  const Client = grpc.makeGenericClientConstructor(service, 'T');
  const client = new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(Buffer.from(ca.caPem), Buffer.from(ca.spiffe.keyPem), Buffer.from(ca.spiffe.certPem)),
  ) as unknown as {
    unary(req: Buffer, cb: (err: Error | null) => void): void;
    bidi(): grpc.ClientDuplexStream<Buffer, Buffer>;
    close(): void;
  };
  try {
    await new Promise<void>((res, rej) => client.unary(Buffer.alloc(0), (e) => (e ? rej(e) : res())));
    await new Promise<void>((res, rej) => {
      const s = client.bidi();
      s.on('data', () => {});
      s.on('error', rej);
      s.on('end', () => res());
      s.end();
    });
  } finally {
    client.close();
    server.forceShutdown();
  }
  t.deepEqual(seen, [
    { tls: true, id: `tls:${SPIFFE_ID}` },
    { tls: true, id: `tls:${SPIFFE_ID}` },
  ]);
});

test('with an authorization table, a verified certificate with another SAN is refused: the table, not the CA, grants', async (t) => {
  const files = await tlsFiles();
  const ca = mtlsCa();
  // The data listener on mTLS: the SPIFFE id may encrypt for tenant demo; every other caller gets nothing.
  const authorization = [
    { identity: `tls:${SPIFFE_ID}`, roles: ['user' as const], tenants: ['demo'] },
    { identity: 'data', roles: [], tenants: [] },
  ];
  try {
    const d = await startTestDaemon({ listen: '127.0.0.1:0', ...files.settings, authorization });
    try {
      const client = (pair: KeyPair) =>
        new UnwrapdClient(d.daemon.address, {
          credentials: grpc.credentials.createSsl(
            Buffer.from(ca.caPem),
            Buffer.from(pair.keyPem),
            Buffer.from(pair.certPem),
          ),
          deadlineMs: 15_000,
        });
      const granted = client(ca.spiffe);
      const other = client(ca.dnsOnly);
      try {
        const sealed = await granted.encrypt({
          tenant: 'demo',
          policyId: 'demo-mailbox',
          plaintext: Buffer.from('hello'),
        });
        t.true(sealed.envelope.length > 0);
        const denied = await codeOf(
          other.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('hello') }),
        );
        t.is(denied.code, grpc.status.PERMISSION_DENIED);
        t.regex(denied.details, /tls:indexer\.mail\.example\.org/);
        const decrypted = await codeOf(other.decrypt({ tenant: 'demo', envelope: sealed.envelope }));
        t.is(decrypted.code, grpc.status.PERMISSION_DENIED);
      } finally {
        granted.close();
        other.close();
      }
    } finally {
      await d.stop();
    }
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
});

test('a TCP admin listener gives no default roles: a verified certificate the table does not name is refused every Admin call', async (t) => {
  const files = await tlsFiles();
  try {
    // No `admin` entry: the certificate passes mTLS (same client CA as the data plane) but is no operator.
    await withDaemon({ ...files.settings, authorization: [] }, async (d) => {
      const client = tlsClient(d, mtlsCa().spiffe);
      try {
        for (const call of [
          client.getStatus(),
          client.revoke({ tenant: 'demo', id: 'demo-mailbox', reason: 'x' }),
          client.listPolicies('demo'),
        ]) {
          const denied = await codeOf(call);
          t.is(denied.code, grpc.status.PERMISSION_DENIED);
          t.regex(denied.details, /tls:spiffe:\/\/example\.org\/ns\/mail\/sa\/store/);
        }
      } finally {
        client.close();
      }
    });
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
});
