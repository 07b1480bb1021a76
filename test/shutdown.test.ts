import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { codeOf, startTestDaemon } from './helpers/test-daemon.js';

test('graceful shutdown drains an in-flight call, then refuses new ones and removes the socket', async (t) => {
  const d = await startTestDaemon({ shutdownTimeoutMs: 60_000 });
  t.teardown(() => d.stop());
  d.provider.latencyMs = 400; // the call below waits on a cold unwrap
  const reachedProvider = d.provider.callStarted('unwrap');
  const inFlight = d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  await reachedProvider; // in flight in the daemon, not still on its way
  const socket = d.daemon.address.slice('unix://'.length);
  const stopping = d.daemon.shutdown();
  const res = await inFlight;
  t.is(res.keyVersion, 1, 'the in-flight call finished');
  const { drained } = await stopping;
  t.true(drained);
  t.false(existsSync(socket));
  const err = await codeOf(
    d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }, { deadlineMs: 500 }),
  );
  t.true([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code));
});

test('shutdown is bounded: a call stuck past the timeout is cancelled', async (t) => {
  const stuckForMs = 120_000;
  const d = await startTestDaemon({ shutdownTimeoutMs: 300, providerTimeoutMs: stuckForMs });
  t.teardown(() => d.stop());
  d.provider.latencyMs = stuckForMs;
  const reachedProvider = d.provider.callStarted('unwrap');
  // Its outcome is taken at once, so its rejection (the cancellation) is never unhandled.
  const stuck = codeOf(
    d.client.encrypt(
      { tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') },
      { deadlineMs: stuckForMs },
    ),
  );
  await reachedProvider;
  const started = Date.now();
  const { drained } = await d.daemon.shutdown();
  t.false(drained);
  // Bounded by the shutdown timeout, not by the stuck call: a generous fraction of what waiting would take.
  t.true(Date.now() - started < stuckForMs / 4);
  const err = await stuck;
  t.not(err.code, grpc.status.OK);
});

test('shutdown runs once: calling it twice returns the same result', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  const a = d.daemon.shutdown();
  const b = d.daemon.shutdown();
  t.is(a, b);
  await a;
});
