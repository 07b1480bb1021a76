import test from 'ava';
import { providerError } from '../src/providers/provider-error.js';
import { FakeClock } from './helpers/fake-clock.js';
import { liveKeyBuffer } from './helpers/key-bytes.js';
import { waitFor } from './helpers/wait-for.js';
import { createPolicy, startTestDaemon } from './helpers/test-daemon.js';

// Time is a FakeClock the tests advance: a key's age and refresh-ahead's "due" read it, so nothing waits.

test('refresh ahead re-unwraps a key before it expires, so requests never wait on the provider', async (t) => {
  const clock = new FakeClock();
  const d = await startTestDaemon(
    { cacheMaxAgeMs: 2_000, refreshAheadMs: 1_500, refreshIntervalMs: 50, hedgeDelayMs: 60_000 },
    { clock },
  );
  t.teardown(() => d.stop());
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  const first = d.daemon.cache.entries()[0]!;
  const firstBuffer = liveKeyBuffer(first.kek);
  clock.advance(1_100); // due after 1 s (refresh ahead is capped at half the max age); not yet expired
  // The refresher's own periodic pass picks it up.
  await waitFor(() => d.daemon.refresher.stats.refreshed >= 1, 'a refresh');
  const now = d.daemon.cache.entries()[0]!;
  t.true(now.loadedAt > first.loadedAt, 'a fresh key replaced the old one');
  t.true(
    firstBuffer.every((b) => b === 0),
    'the replaced key was zeroized',
  );
  d.provider.resetCounts();
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  t.is(d.provider.counts.unwrap, 0, 'served from the refreshed key');
});

test('a refresh that gets revoked evicts the policy at once', async (t) => {
  const clock = new FakeClock();
  const d = await startTestDaemon(
    { cacheMaxAgeMs: 4_000, refreshAheadMs: 4_000, refreshIntervalMs: 3_600_000 },
    { clock },
  );
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'r');
  await d.client.encrypt({ tenant: 'demo', policyId: 'r', plaintext: Buffer.from('x') });
  clock.advance(2_100); // due: less than half the max age left
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && uri.includes('customer') ? providerError('key_disabled', uri, 'injected') : undefined;
  await d.daemon.refresher.runOnce();
  t.is(d.daemon.cache.entries().filter((e) => e.policyId === 'r').length, 0);
  t.true(d.daemon.refresher.stats.revoked >= 1);
});

test('a refresh that gets unavailable keeps the key until its hard expiry and is reported', async (t) => {
  const clock = new FakeClock();
  const d = await startTestDaemon(
    { cacheMaxAgeMs: 4_000, refreshAheadMs: 4_000, refreshIntervalMs: 3_600_000 },
    { clock },
  );
  t.teardown(() => d.stop());
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  const [kept] = d.daemon.cache.entries();
  const keptBuffer = liveKeyBuffer(kept!.kek);
  clock.advance(2_100);
  d.provider.fail = (op, uri) => (op === 'unwrap' ? providerError('throttled', uri, 'injected 429') : undefined);
  await d.daemon.refresher.runOnce();
  t.is(d.daemon.cache.entries().length, 1, 'kept');
  const status = await d.client.getStatus();
  t.is(status.refreshFailures, '1');
  d.provider.resetCounts();
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  t.is(d.provider.counts.unwrap, 0, 'still served from cache');
  clock.advance(1_900); // its hard expiry
  t.is(d.daemon.cache.entries().length, 0, 'gone at its hard expiry');
  t.true(
    keptBuffer.every((b) => b === 0),
    'and zeroized',
  );
});
