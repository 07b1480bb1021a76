import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { codeOf, startTestDaemon } from './helpers/test-daemon.js';

test('graceful shutdown drains an in-flight call, then refuses new ones and removes the socket', async (t) => {
  const d = await startTestDaemon({ shutdownTimeoutMs: 5_000 });
  d.provider.latencyMs = 400; // the call below waits on a cold unwrap
  const inFlight = d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  await new Promise((r) => setTimeout(r, 100));
  const socket = d.daemon.address.slice('unix://'.length);
  const stopping = d.daemon.shutdown();
  const res = await inFlight;
  t.is(res.keyVersion, 1, 'the in-flight call finished');
  const { drained } = await stopping;
  t.true(drained);
  t.false(existsSync(socket));
  const err = await codeOf(d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }, { deadlineMs: 500 }));
  t.true([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code));
  await d.stop();
});

test('shutdown is bounded: a call stuck past the timeout is cancelled', async (t) => {
  const d = await startTestDaemon({ shutdownTimeoutMs: 300, providerTimeoutMs: 60_000 });
  d.provider.latencyMs = 30_000;
  const stuck = d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }, { deadlineMs: 60_000 });
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  const { drained } = await d.daemon.shutdown();
  t.false(drained);
  t.true(Date.now() - started < 2_000);
  const err = await codeOf(stuck);
  t.not(err.code, grpc.status.OK);
  await d.stop();
});

test('shutdown runs once: calling it twice returns the same result', async (t) => {
  const d = await startTestDaemon();
  const a = d.daemon.shutdown();
  const b = d.daemon.shutdown();
  t.is(a, b);
  await a;
  await d.stop();
});
