import test from 'ava';
import { providerError } from '../src/providers/provider-error.js';
import { createPolicy, startTestDaemon } from './helpers/test-daemon.js';

test('refresh ahead re-unwraps a key before it expires, so requests never wait on the provider', async (t) => {
  const d = await startTestDaemon({ cacheMaxAgeMs: 2_000, refreshAheadMs: 1_500, refreshIntervalMs: 100, hedgeDelayMs: 60_000 });
  try {
    await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
    const first = d.daemon.cache.entries()[0]!;
    const firstBuffer = first.kek.unsafeBufferForTests();
    await new Promise((r) => setTimeout(r, 1_500)); // due after 1 s (refresh ahead is capped at half the max age)
    const now = d.daemon.cache.entries()[0]!;
    t.true(now.loadedAt > first.loadedAt, 'a fresh key replaced the old one');
    t.true(firstBuffer.every((b) => b === 0), 'the replaced key was zeroized');
    t.true(d.daemon.refresher.stats.refreshed >= 1);
  } finally {
    await d.stop();
  }
});

test('a refresh that gets revoked evicts the policy at once', async (t) => {
  const d = await startTestDaemon({ cacheMaxAgeMs: 4_000, refreshAheadMs: 4_000, refreshIntervalMs: 3_600_000 });
  try {
    await createPolicy(d.client, 'r');
    await d.client.encrypt({ tenant: 'demo', policyId: 'r', plaintext: Buffer.from('x') });
    await new Promise((r) => setTimeout(r, 2_100)); // due: less than half the max age left
    d.provider.fail = (op, uri) => (op === 'unwrap' && uri.includes('customer') ? providerError('key_disabled', uri, 'injected') : undefined);
    await d.daemon.refresher.runOnce();
    t.is(d.daemon.cache.entries().filter((e) => e.policyId === 'r').length, 0);
    t.true(d.daemon.refresher.stats.revoked >= 1);
  } finally {
    await d.stop();
  }
});

test('a refresh that gets unavailable keeps the key until its hard expiry and is reported', async (t) => {
  const d = await startTestDaemon({ cacheMaxAgeMs: 4_000, refreshAheadMs: 4_000, refreshIntervalMs: 3_600_000 });
  try {
    await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
    await new Promise((r) => setTimeout(r, 2_100));
    d.provider.fail = (op, uri) => (op === 'unwrap' ? providerError('throttled', uri, 'injected 429') : undefined);
    await d.daemon.refresher.runOnce();
    t.is(d.daemon.cache.entries().length, 1, 'kept');
    const status = await d.client.getStatus();
    t.is(status.refreshFailures, '1');
    d.provider.resetCounts();
    await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
    t.is(d.provider.counts.unwrap, 0, 'still served from cache');
  } finally {
    await d.stop();
  }
});
