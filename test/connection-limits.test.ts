import test from 'ava';
import { startTestDaemon } from './helpers/test-daemon.js';
import { grpcFrame } from './helpers/proto-wire.js';
import { connectRaw, decryptRequest, rawCall, streamRequest } from './helpers/raw-grpc.js';

// The per-connection bounds reach HTTP/2 (src/server/connection-options.ts): each injected small on a daemon
// of its own, observed by a raw HTTP/2 client.

test('maxConnectionAgeMs: an old connection is sent GOAWAY, its open call finishes within the grace, and new connections are served', async (t) => {
  const d = await startTestDaemon({ maxConnectionAgeMs: 400, maxConnectionAgeGraceMs: 5_000, streamIdleTimeoutMs: 0 });
  t.teardown(() => d.stop());
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('aged'),
  });
  const parts: Buffer[] = [];
  for await (const b of d.client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, [
    Buffer.alloc(100_000, 5),
  ]))
    parts.push(b);
  const segmented = Buffer.concat(parts);
  const conn = await connectRaw(d.daemon.address);
  const goaway = new Promise<number>((r) => conn.session.once('goaway', (code) => r(code)));
  // A stream opened before the connection's age: it may finish after the GOAWAY.
  const open = rawCall(conn, 'DecryptStream');
  open.stream.write(grpcFrame(streamRequest.header('demo')));
  t.is(await goaway, 0); // NO_ERROR: a graceful GOAWAY
  open.stream.end(grpcFrame(streamRequest.chunk(segmented)));
  const done = await open.result;
  t.is(done.grpcStatus, 0);
  t.true(done.bytes > 100_000);
  await conn.closed;
  // The typed client's channel reconnects by itself.
  t.is((await d.client.decrypt({ tenant: 'demo', envelope: envelope as Buffer })).plaintext.toString(), 'aged');
  const fresh = await connectRaw(d.daemon.address);
  const c = rawCall(fresh, 'Decrypt');
  c.stream.end(grpcFrame(decryptRequest('demo', envelope as Buffer)));
  t.is((await c.result).grpcStatus, 0);
  fresh.close();
});

test('maxConnectionIdleMs: a connection with no call is sent GOAWAY; new calls are served', async (t) => {
  const d = await startTestDaemon({ maxConnectionIdleMs: 300 });
  t.teardown(() => d.stop());
  // Measured from before the connection exists: the server's idle clock starts when it accepts it, which a
  // busy machine may make long before connectRaw resolves here.
  const started = performance.now();
  const conn = await connectRaw(d.daemon.address);
  await new Promise<void>((r) => conn.session.once('goaway', () => r()));
  t.true(performance.now() - started >= 250);
  await conn.closed;
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('idle'),
  });
  t.is((await d.client.decrypt({ tenant: 'demo', envelope: envelope as Buffer })).plaintext.toString(), 'idle');
});

test('keepaliveTimeMs: the server pings its connections; maxStreamsPerConnection and maxMetadataBytes are advertised', async (t) => {
  const d = await startTestDaemon({ keepaliveTimeMs: 1_000, maxStreamsPerConnection: 7, maxMetadataBytes: 4096 });
  t.teardown(() => d.stop());
  const conn = await connectRaw(d.daemon.address);
  t.is(conn.session.remoteSettings.maxConcurrentStreams, 7);
  t.is(conn.session.remoteSettings.maxHeaderListSize, 4096);
  await new Promise<void>((r) => conn.session.once('ping', () => r()));
  t.pass('pinged');
  conn.close();
});
