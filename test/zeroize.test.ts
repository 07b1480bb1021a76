import test from 'ava';
import { startTestDaemon } from './helpers/test-daemon.js';
import { FakeClock } from './helpers/fake-clock.js';
import { liveKeyBuffer } from './helpers/key-bytes.js';

function cachedBuffers(d: Awaited<ReturnType<typeof startTestDaemon>>) {
  return d.daemon.cache.entries().map((e) => liveKeyBuffer(e.kek));
}

test('after Evict the key buffers that were cached read all zero', async (t) => {
  const d = await startTestDaemon();
  try {
    await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
    const buffers = cachedBuffers(d);
    t.is(buffers.length, 1);
    t.true(
      buffers[0]!.some((b) => b !== 0),
      'a live key is not all zero',
    );
    const res = await d.client.evict({ tenant: 'demo', id: 'demo-mailbox' });
    t.is(res.evicted, 1);
    t.true(buffers[0]!.every((b) => b === 0));
    t.is(d.daemon.cache.entries().length, 0);
  } finally {
    await d.stop();
  }
});

test('after shutdown the key buffers that were cached read all zero', async (t) => {
  const d = await startTestDaemon();
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  const buffers = cachedBuffers(d);
  t.is(buffers.length, 1);
  await d.stop();
  t.true(buffers[0]!.every((b) => b === 0));
});

test('a cached key expires at its maximum age and is zeroized then', async (t) => {
  const clock = new FakeClock();
  const d = await startTestDaemon({ cacheMaxAgeMs: 1_000 }, { clock });
  t.teardown(() => d.stop());
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  const [buffer] = cachedBuffers(d);
  clock.advance(999);
  t.true(
    buffer!.some((b) => b !== 0),
    'live until its age',
  );
  clock.advance(1);
  t.true(
    buffer!.every((b) => b === 0),
    'zeroized at its age, not when next touched',
  );
  d.provider.resetCounts();
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  t.is(d.provider.counts.unwrap, 1, 'an expired key is unwrapped afresh');
});
