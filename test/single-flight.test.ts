import test from 'ava';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
test.before(async () => {
  // No hedging here: every cold load asks exactly one customer key, so provider calls count loads.
  d = await startTestDaemon({ hedgeDelayMs: 60_000 });
  await createPolicy(d.client, 'cold-a');
  await createPolicy(d.client, 'cold-b');
});
test.after.always(async () => {
  await d?.stop();
});

test.serial('1000 concurrent Encrypt calls on a cold policy cause exactly one provider unwrap', async (t) => {
  await d.client.evict({ tenant: 'demo', id: 'cold-a' });
  d.provider.resetCounts();
  d.provider.latencyMs = 50; // a cold miss that takes a while, so every call queues behind it
  try {
    const calls = Array.from({ length: 1000 }, (_, i) =>
      d.client.encrypt({ tenant: 'demo', policyId: 'cold-a', plaintext: Buffer.from(`item ${i}`) }),
    );
    const results = await Promise.all(calls);
    t.is(results.length, 1000);
    t.is(d.provider.counts.unwrap, 1);
  } finally {
    d.provider.latencyMs = 0;
  }
});

test.serial('a cold start across two policies costs one unwrap per policy, not per request', async (t) => {
  await d.client.evict({ tenant: 'demo' });
  d.provider.resetCounts();
  d.provider.latencyMs = 20;
  try {
    await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        d.client.encrypt({ tenant: 'demo', policyId: i % 2 === 0 ? 'cold-a' : 'cold-b', plaintext: Buffer.from('x') }),
      ),
    );
    t.is(d.provider.counts.unwrap, 2);
  } finally {
    d.provider.latencyMs = 0;
  }
});

test.serial('a cache hit makes no provider call at all', async (t) => {
  await d.client.encrypt({ tenant: 'demo', policyId: 'cold-a', plaintext: Buffer.from('warm') });
  d.provider.resetCounts();
  for (let i = 0; i < 50; i++)
    await d.client.encrypt({ tenant: 'demo', policyId: 'cold-a', plaintext: Buffer.from('x') });
  t.is(d.provider.counts.unwrap, 0);
});

test.serial('a caller that gives up does not fail the others waiting on the same unwrap', async (t) => {
  await d.client.evict({ tenant: 'demo', id: 'cold-a' });
  d.provider.resetCounts();
  d.provider.latencyMs = 300;
  try {
    const impatient = d.client.encrypt(
      { tenant: 'demo', policyId: 'cold-a', plaintext: Buffer.from('x') },
      { deadlineMs: 50 },
    );
    const patient = d.client.encrypt(
      { tenant: 'demo', policyId: 'cold-a', plaintext: Buffer.from('y') },
      { deadlineMs: 5_000 },
    );
    await t.throwsAsync(impatient);
    t.is((await patient).keyVersion, 1);
    t.is(d.provider.counts.unwrap, 1);
  } finally {
    d.provider.latencyMs = 0;
  }
});
