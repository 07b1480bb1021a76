import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer as collect } from 'node:stream/consumers';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { STREAM_MAX_CHUNK_BYTES } from '../src/server/request-limits.js';
import { STREAM_RESERVED_BYTES, StreamLimits, streamReservedBytes } from '../src/server/stream-limits.js';
import { stallEncryptStreams } from './helpers/stalled-streams.js';
import { startDaemonProcess } from './helpers/daemon-process.js';
import { mtlsCa } from './helpers/mtls-ca.js';
import { connectRaw } from './helpers/raw-grpc.js';
import { createPolicy, startTestDaemon } from './helpers/test-daemon.js';

// The daemon's HTTP/2 receive windows (http2StreamWindowBytes, http2ConnectionWindowBytes): advertised on both
// listeners, the stream reservation of the buffer budget computed from the stream window, and the bound on
// what stalled streams make the daemon hold kept with a raised window.
const MiB = 1024 * 1024;

/** The windows a fresh connection to `address` is given: the stream window (SETTINGS) and the connection window. */
async function windowsOf(address: string): Promise<{ stream: number | undefined; connection: number }> {
  const c = await connectRaw(address);
  try {
    return await windowsOfSession(c.session);
  } finally {
    c.close();
  }
}

async function windowsOfSession(
  session: http2.ClientHttp2Session,
): Promise<{ stream: number | undefined; connection: number }> {
  // The server sends its connection WINDOW_UPDATE as the session opens, before it answers a ping.
  await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
  return { stream: session.remoteSettings.initialWindowSize, connection: session.state.remoteWindowSize! };
}

test('by default each call and connection keeps HTTP/2 65,535-byte windows, and a stream reserves 704 KiB', async (t) => {
  const d = await startTestDaemon();
  try {
    t.deepEqual(await windowsOf(d.daemon.address), { stream: 65_535, connection: 65_535 });
    t.is(d.daemon.streamLimits.reservedBytes, STREAM_RESERVED_BYTES);
    t.is(STREAM_RESERVED_BYTES, 2 * (STREAM_MAX_CHUNK_BYTES + 64 * 1024) + 65_535);
  } finally {
    await d.stop();
  }
});

test('raised windows are advertised on both listeners, streams reserve the stream window, and streams round-trip', async (t) => {
  const d = await startTestDaemon({ http2StreamWindowBytes: MiB, http2ConnectionWindowBytes: 4 * MiB });
  try {
    t.deepEqual(await windowsOf(d.daemon.address), { stream: MiB, connection: 4 * MiB });
    t.deepEqual(await windowsOf(d.daemon.adminAddress), { stream: MiB, connection: 4 * MiB });
    t.is(d.daemon.streamLimits.reservedBytes, streamReservedBytes(MiB));
    // 8 MiB through EncryptStream and back through DecryptStream, in the largest chunks a message may carry:
    // with the window raised, every message is taken and every stream ends.
    await createPolicy(d.client, 'files');
    const plaintext = randomBytes(8 * MiB);
    const opts = { chunkBytes: STREAM_MAX_CHUNK_BYTES, deadlineMs: 120_000 };
    const envelope = await collect(d.client.encryptStream({ tenant: 'demo', policyId: 'files' }, [plaintext], opts));
    const back = await collect(d.client.decryptStream({ tenant: 'demo' }, [envelope], opts));
    t.true(back.equals(plaintext), 'the 8 MiB came back as sent');
    t.is(d.daemon.streamLimits.stats().open, 0);
  } finally {
    await d.stop();
  }
});

test('a TLS listener gives the same raised windows', async (t) => {
  const ca = mtlsCa();
  const dir = await mkdtemp(join(tmpdir(), 'uwd-win-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'server.pem'), ca.server.certPem);
  await writeFile(join(dir, 'server.key'), ca.server.keyPem, { mode: 0o600 });
  const d = await startTestDaemon({
    listen: '127.0.0.1:0',
    tlsCertFile: join(dir, 'server.pem'),
    tlsKeyFile: join(dir, 'server.key'),
    http2StreamWindowBytes: 2 * MiB,
    http2ConnectionWindowBytes: 8 * MiB,
  });
  t.teardown(() => d.stop());
  const session = http2.connect(`https://${d.daemon.address}`, { ca: ca.caPem });
  session.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    t.deepEqual(await windowsOfSession(session), { stream: 2 * MiB, connection: 8 * MiB });
  } finally {
    session.close();
  }
});

test('the windows are validated: HTTP/2 bounds, and a connection window not below the stream window', (t) => {
  t.throws(() => loadConfig({ 'http2-stream-window-bytes': '65534' }, {}), {
    instanceOf: ConfigError,
    message: /http2StreamWindowBytes/,
  });
  t.throws(() => loadConfig({}, { UNWRAPD_HTTP2_STREAM_WINDOW_BYTES: String(16 * MiB + 1) }), {
    instanceOf: ConfigError,
    message: /http2StreamWindowBytes/,
  });
  t.throws(() => loadConfig({ 'http2-connection-window-bytes': String(256 * MiB + 1) }, {}), {
    instanceOf: ConfigError,
    message: /http2ConnectionWindowBytes/,
  });
  t.throws(() => loadConfig({ 'http2-stream-window-bytes': String(MiB) }, {}), {
    instanceOf: ConfigError,
    message: /http2ConnectionWindowBytes must not be below http2StreamWindowBytes/,
  });
  const c = loadConfig({ 'http2-stream-window-bytes': String(MiB), 'http2-connection-window-bytes': String(MiB) }, {});
  t.is(c.http2StreamWindowBytes, MiB);
  t.is(c.http2ConnectionWindowBytes, MiB);
});

test("a stream buffer budget that cannot hold one stream's reservation is refused at start, naming both settings", (t) => {
  const limits = (bufferBudgetBytes: number, streamWindowBytes: number) =>
    new StreamLimits({
      maxStreams: 64,
      idleTimeoutMs: 1000,
      maxLifetimeMs: 1000,
      bufferBudgetBytes,
      streamWindowBytes,
    });
  const err = t.throws(() => limits(streamReservedBytes(MiB) - 1, MiB), { instanceOf: ConfigError });
  t.is(err?.setting, 'streamBufferBudgetBytes');
  t.regex(err?.message ?? '', /below what one stream reserves with http2StreamWindowBytes 1048576 .*raise the budget/);
  t.is(limits(streamReservedBytes(MiB), MiB).reservedBytes, streamReservedBytes(MiB));
  t.is(limits(STREAM_RESERVED_BYTES, 65_535).reservedBytes, STREAM_RESERVED_BYTES);
});

// test/stream-readahead.test.ts's scenario with a 1 MiB stream window: 8 clients, each on its own connection,
// send chunks of the per-message cap and never read their responses. Node's HTTP/2 keeps accepting DATA up to
// the window while grpc-js has a stream paused, so each stalled stream holds about a window more than with the
// default; the reservation follows the window and the budget still bounds the total. With a fixed 64 KiB
// reservation (the reservation of the 64 KiB window) the daemon grew by +7.3 to +8.3 MiB under its 4 MiB budget.
test('with a 1 MiB window, the shared buffer budget still bounds what stalled streams make the daemon hold', async (t) => {
  const STREAMS = 8;
  const BUDGET = 4 * MiB;
  const p = await startDaemonProcess({
    streamBufferBudgetBytes: BUDGET,
    streamIdleTimeoutMs: 120_000,
    http2StreamWindowBytes: MiB,
    http2ConnectionWindowBytes: 4 * MiB,
  });
  try {
    t.deepEqual(await windowsOf(p.address), { stream: MiB, connection: 4 * MiB });
    // At least 20 samples: with few streams admitted the daemon may grow by less than a MiB.
    const { grown, peak, streams } = await stallEncryptStreams(p, STREAMS, { minSamples: 20 });
    t.log(
      `${STREAMS} stalled EncryptStreams, 1 MiB window: daemon Buffers +${(grown / MiB).toFixed(1)} MiB (peak +${(peak / MiB).toFixed(1)}); charged ${(streams.inFlightBytes / MiB).toFixed(1)} MiB; budget ${BUDGET / MiB} MiB; ${streams.open} open`,
    );
    t.true(streams.open >= 1, 'some stalled streams were admitted and held open');
    t.true(
      peak < BUDGET + STREAMS * 256 * 1024,
      `daemon held +${(peak / MiB).toFixed(1)} MiB for a ${BUDGET / MiB} MiB budget`,
    );
  } finally {
    await p.stop();
  }
});
