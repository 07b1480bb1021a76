import { buffer as collect } from 'node:stream/consumers';
import { STREAM_RESERVED_BYTES } from '../src/server/stream-limits.js';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { waitFor } from './helpers/wait-for.js';

// The streams' bounds (src/server/stream-limits.ts), each injected small, each on a daemon of its own.
// Every test asserts the refusal (RESOURCE_EXHAUSTED naming the limit), that the stream's key and bytes are
// released, and that the daemon keeps serving others.

const ctx = { site: 'hr' };
const encHeader = { tenant: 'demo', policyId: 'demo-mailbox', context: ctx };
const decHeader = { tenant: 'demo', context: ctx };

/** A source that yields `first`, waits until `release` is called, then yields `after` and ends. */
function held(first: Buffer[], after: Buffer[] = []): { source: AsyncGenerator<Buffer>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  async function* source() {
    for (const b of first) yield b;
    await gate;
    for (const b of after) yield b;
  }
  return { source: source(), release };
}

function expectReleased(t: import('ava').ExecutionContext, d: TestDaemon, what: string): void {
  const s = d.daemon.streams.stats();
  t.is(s.open, 0, `${what}: no open streams`);
  t.is(s.liveKeys, 0, `${what}: no live stream keys (zeroized)`);
  t.is(s.inFlightBytes, 0, `${what}: no bytes in flight`);
  const l = d.daemon.streamLimits.stats();
  t.is(l.open, 0, `${what}: no admitted streams`);
  t.is(l.bufferedBytes, 0, `${what}: nothing charged to the buffer budget`);
}

async function stillServes(t: import('ava').ExecutionContext, d: TestDaemon): Promise<void> {
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('other caller'),
    context: ctx,
  });
  t.is((await d.client.decrypt({ tenant: 'demo', envelope, context: ctx })).plaintext.toString(), 'other caller');
  const env = await collect(d.client.encryptStream(encHeader, [Buffer.alloc(100_000, 3)]));
  t.is((await collect(d.client.decryptStream(decHeader, [env]))).length, 100_000);
}

test('maxStreams: one stream over the limit is refused at once, naming it; the others and later streams are served', async (t) => {
  const d = await startTestDaemon({ maxStreams: 3, streamIdleTimeoutMs: 0 });
  t.teardown(() => d.stop());
  const env = await collect(d.client.encryptStream(encHeader, [Buffer.alloc(200_000, 1)]));
  const open = [0, 1, 2].map(() => held([env.subarray(0, 1000)]));
  const results = open.map((h) =>
    collect(d.client.decryptStream(decHeader, h.source)).then(
      () => 'ok',
      (e: grpc.ServiceError) => e.code,
    ),
  );
  await waitFor(() => d.daemon.streams.stats().liveKeys === 3, 'three streams unlocked');

  const refused = await codeOf(collect(d.client.decryptStream(decHeader, [env])));
  t.is(refused.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(refused.details, 'too many streams open: 3 (maxStreams)');
  t.is(d.daemon.streamLimits.stats().refused.maxStreams, 1);
  // Unary calls are not streams: served while the three are open.
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('x'),
    context: ctx,
  });
  t.is((await d.client.decrypt({ tenant: 'demo', envelope, context: ctx })).plaintext.toString(), 'x');

  // The three end (their input was cut: decryption failed), and a new stream is admitted.
  for (const h of open) h.release();
  t.deepEqual(await Promise.all(results), [3, 3, 3]);
  expectReleased(t, d, 'after the three');
  await stillServes(t, d);
});

test('streamIdleTimeoutMs: a stream that stops sending ends with RESOURCE_EXHAUSTED naming the limit; its key is zeroized', async (t) => {
  // 1 s: longer than a busy machine keeps an active client off the CPU (the other streams here must not idle).
  const d = await startTestDaemon({ streamIdleTimeoutMs: 1_000 });
  t.teardown(() => d.stop());
  const env = await collect(d.client.encryptStream(encHeader, [Buffer.alloc(200_000, 1)]));
  const idle = held([env.subarray(0, 70_000)]); // the header and part of a segment, then nothing
  const started = performance.now();
  const r = await codeOf(collect(d.client.decryptStream(decHeader, idle.source)));
  idle.release();
  t.is(r.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(r.details, 'stream idle for 1000 ms (streamIdleTimeoutMs)');
  t.true(performance.now() - started >= 1_000);
  t.is(d.daemon.streamLimits.stats().refused.streamIdleTimeoutMs, 1);
  expectReleased(t, d, 'after the idle stream');
  await stillServes(t, d);
});

test("streamIdleTimeoutMs: the server's own work (a slow key unwrap) is not idleness", async (t) => {
  // 1 s, as in the test above: the client shares this process with the daemon, and a saturated machine can keep
  // the process off the CPU for a few hundred milliseconds while a response waits for the client to take it.
  const d = await startTestDaemon({ streamIdleTimeoutMs: 1_000, hedgeDelayMs: 60_000 });
  t.teardown(() => d.stop());
  const env = await collect(d.client.encryptStream(encHeader, [Buffer.alloc(200_000, 1)]));
  await d.client.evict({ tenant: 'demo', id: 'demo-mailbox' });
  d.provider.latencyMs = 2_500; // the unwrap takes two and a half idle timeouts
  const out = await collect(d.client.decryptStream(decHeader, [env]));
  d.provider.latencyMs = 0;
  t.is(out.length, 200_000);
  t.is(d.daemon.streamLimits.stats().refused.streamIdleTimeoutMs, 0);
});

test('streamMaxLifetimeMs: a stream still busy at its lifetime ends with RESOURCE_EXHAUSTED naming the limit', async (t) => {
  const d = await startTestDaemon({ streamMaxLifetimeMs: 400, streamIdleTimeoutMs: 0 });
  t.teardown(() => d.stop());
  let sent = 0;
  async function* trickle() {
    // Never idle: a chunk every 20 ms, for as long as the server takes them.
    for (;;) {
      yield Buffer.alloc(1000, 1);
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const r = await codeOf(collect(d.client.encryptStream(encHeader, trickle())));
  t.is(r.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(r.details, 'stream open longer than 400 ms (streamMaxLifetimeMs)');
  t.true(sent > 3, `the stream was busy: ${sent} chunks`);
  await waitFor(() => d.daemon.streams.stats().open === 0, 'the stream released');
  expectReleased(t, d, 'after the lifetime');
  await stillServes(t, d);
});

test('streamBufferBudgetBytes: the stream that would take the shared budget over ends, naming it; the others carry on', async (t) => {
  const MiB = 1024 * 1024;
  // 1 MiB segments: a DecryptStream holds up to a segment of ciphertext before it can verify it, on top of the
  // reservation every open stream makes for the transport. Two streams holding 900 KB each (a reservation and a
  // 1 MiB segment buffer) leave room for one of them to finish its segment (its 1 MiB plaintext response
  // charged until sent) but not for a third stream's reservation and segment buffer.
  const perStream = STREAM_RESERVED_BYTES + MiB;
  const budget = 2 * perStream + 1.4 * MiB;
  const d = await startTestDaemon({ streamBufferBudgetBytes: budget, streamSegmentBytes: MiB });
  t.teardown(() => d.stop());
  const big = await collect(d.client.encryptStream(encHeader, [Buffer.alloc(MiB + 10, 1)]));

  // Two streams hold a segment buffer each, and their reservations.
  const first = [0, 1].map(() => held([big.subarray(0, 900_000)], [big.subarray(900_000)]));
  const firstResults = first.map((h) => collect(d.client.decryptStream(decHeader, h.source)));
  await waitFor(
    () => d.daemon.streamLimits.stats().bufferedBytes >= 2 * (STREAM_RESERVED_BYTES + 900_000),
    'two streams holding their bytes',
  );

  // A third does not fit: it is the one refused.
  const r = await codeOf(collect(d.client.decryptStream(decHeader, [big])));
  t.is(r.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(r.details, `stream buffers over the shared budget of ${budget} bytes (streamBufferBudgetBytes)`);
  t.is(d.daemon.streamLimits.stats().refused.streamBufferBudgetBytes, 1);
  t.true(d.daemon.streamLimits.stats().peakBufferedBytes <= budget);

  // The two were not touched: they complete.
  for (const [i, h] of first.entries()) {
    h.release();
    t.is((await firstResults[i]!).length, MiB + 10);
  }
  expectReleased(t, d, 'after the budget refusal');
  t.is((await collect(d.client.decryptStream(decHeader, [big]))).length, MiB + 10);
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('x'),
    context: ctx,
  });
  t.is((await d.client.decrypt({ tenant: 'demo', envelope, context: ctx })).plaintext.toString(), 'x');
});
