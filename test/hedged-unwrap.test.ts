import test from 'ava';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ hedgeDelayMs: 100 });
  await createPolicy(d.client, 'hedge');
});
test.after.always(async () => {
  await d?.stop();
});
test.afterEach.always(() => {
  d.provider.latencyFor = undefined;
  d.provider.latencyMs = 0;
});

const isA = (uri: string) => uri.startsWith('local:demo-customer-a');

test.serial(
  'hedged unwrap: a slow first customer key is overtaken by the other after the hedge delay, and cancelled',
  async (t) => {
    let fastFirst = 0;
    for (let i = 0; i < 12; i++) {
      await d.client.evict({ tenant: 'demo', id: 'hedge' });
      d.provider.resetCounts();
      d.provider.latencyFor = (op, uri) => (op === 'unwrap' && isA(uri) ? 2_000 : 0);
      const started = Date.now();
      await d.client.encrypt({ tenant: 'demo', policyId: 'hedge', plaintext: Buffer.from('x') });
      const elapsed = Date.now() - started;
      t.true(elapsed < 1_000, `served in ${elapsed} ms, not after the slow key's 2 s`);
      if (d.provider.counts.unwrap === 1)
        fastFirst++; // B was chosen first: no hedge needed
      else {
        t.is(d.provider.counts.unwrap, 2);
        t.is(d.provider.aborted.unwrap, 1, 'the slow call was cancelled');
        t.true(elapsed >= 90, `the second key was asked only after the hedge delay (${elapsed} ms)`);
      }
    }
    t.true(fastFirst > 0 && fastFirst < 12, `the first key is chosen at random (B first ${fastFirst}/12)`);
  },
);

test.serial('hedged unwrap: a first key that fails fast makes the other be asked at once', async (t) => {
  // A daemon whose hedge delay (60 s) no busy machine can mistake for scheduling noise: an Encrypt that
  // waited for it would take a minute; one that asks the other key at once takes milliseconds.
  const slow = await startTestDaemon({ hedgeDelayMs: 60_000 });
  try {
    await createPolicy(slow.client, 'hedge');
    const { providerError } = await import('../src/providers/provider-error.js');
    slow.provider.fail = (op, uri) =>
      op === 'unwrap' && isA(uri) ? providerError('server_error', uri, 'injected 503') : undefined;
    slow.provider.latencyFor = (op, uri) => (op === 'unwrap' && !isA(uri) ? 10 : 0);
    for (let i = 0; i < 6; i++) {
      await slow.client.evict({ tenant: 'demo', id: 'hedge' });
      const started = Date.now();
      await slow.client.encrypt({ tenant: 'demo', policyId: 'hedge', plaintext: Buffer.from('x') });
      t.true(Date.now() - started < 30_000, 'no wait for the hedge delay after a failure');
    }
  } finally {
    await slow.stop();
  }
});

test.serial(
  'single flight still holds with hedging: 500 cold calls, at most one load (two provider calls when hedged)',
  async (t) => {
    await d.client.evict({ tenant: 'demo', id: 'hedge' });
    d.provider.resetCounts();
    d.provider.latencyMs = 300; // longer than the hedge delay: both keys are asked, once
    await Promise.all(
      Array.from({ length: 500 }, () =>
        d.client.encrypt({ tenant: 'demo', policyId: 'hedge', plaintext: Buffer.from('x') }),
      ),
    );
    t.is(d.provider.counts.unwrap, 2);
    t.is(d.daemon.cache.stats().loads > 0, true);
  },
);
