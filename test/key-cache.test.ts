import test from 'ava';
import { randomBytes } from 'node:crypto';
import { KeyCache, StaleLoadError, type PolicyKeyLoader } from '../src/cache/key-cache.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { FakeClock } from './helpers/fake-clock.js';
import { liveKeyBuffer } from './helpers/key-bytes.js';

// The key cache in process, with a FakeClock: expiry is the clock's, so it is tested without waiting.

const signal = () => new AbortController().signal;

function loaderFor(policyId: string, version = 1) {
  const calls = { count: 0 };
  const loader: PolicyKeyLoader = async () => {
    calls.count++;
    return {
      tenant: 't',
      policyId,
      version,
      kek: SecretKey.copyFrom(randomBytes(32)),
      sourceRole: 'customer-a',
      keyId: 'k',
    };
  };
  return { loader, calls };
}

/** A loader that finishes when the test says so. */
function gatedLoader(policyId: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const calls = { count: 0 };
  const loader: PolicyKeyLoader = async () => {
    calls.count++;
    await gate;
    return {
      tenant: 't',
      policyId,
      version: 1,
      kek: SecretKey.copyFrom(randomBytes(32)),
      sourceRole: 'customer-a',
      keyId: 'k',
    };
  };
  return { loader, calls, release };
}

test('a key expires at its maximum age on the clock: zeroized then, and loaded afresh on the next get', async (t) => {
  const clock = new FakeClock();
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock });
  const { loader, calls } = loaderFor('p');
  const key = await cache.get('t', 'p', 1, loader, signal());
  const bytes = liveKeyBuffer(key.kek);
  t.is(key.expiresAt, clock.now() + 60_000);
  clock.advance(59_999);
  t.is(cache.peek('t', 'p', 1), key, 'served until its age');
  t.true(bytes.some((b) => b !== 0));
  clock.advance(1);
  t.is(cache.peek('t', 'p', 1), undefined);
  t.true(
    bytes.every((b) => b === 0),
    'zeroized at expiry, without being touched',
  );
  t.is(cache.stats().entries, 0);
  await cache.get('t', 'p', 1, loader, signal());
  t.is(calls.count, 2);
  t.is(clock.pending, 1, 'one expiry timer: the new entry');
});

test('an expiry timer that fires late never lets a key be served past its age', (t) => {
  // A clock whose timers never fire: only the read-side check stands between a caller and an old key.
  let now = 0;
  const cache = new KeyCache({
    maxEntries: 10,
    maxAgeMs: 1_000,
    clock: { now: () => now, setTimer: () => ({ cancel() {} }) },
  });
  cache.replace(
    {
      tenant: 't',
      policyId: 'p',
      version: 1,
      kek: SecretKey.copyFrom(randomBytes(32)),
      sourceRole: 'customer-a',
      keyId: 'k',
    },
    0,
  );
  t.truthy(cache.peek('t', 'p', 1));
  now = 1_000;
  t.is(cache.peek('t', 'p', 1), undefined);
});

test('a replaced, evicted or cleared key has its expiry timer cancelled and its bytes zeroized', async (t) => {
  const clock = new FakeClock();
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock });
  const first = await cache.get('t', 'p', 1, loaderFor('p').loader, signal());
  const firstBytes = liveKeyBuffer(first.kek);
  t.true(cache.replace({ ...(await loaderFor('p').loader(signal())) }, cache.generation('t', 'p')));
  t.true(
    firstBytes.every((b) => b === 0),
    'replaced: zeroized',
  );
  t.is(clock.pending, 1, "the replaced entry's timer is gone");
  const second = cache.peek('t', 'p', 1)!;
  const secondBytes = liveKeyBuffer(second.kek);
  t.is(cache.evictPolicy('t', 'p'), 1);
  t.true(
    secondBytes.every((b) => b === 0),
    'evicted: zeroized',
  );
  t.is(clock.pending, 0);
  const third = await cache.get('t', 'q', 1, loaderFor('q').loader, signal());
  const thirdBytes = liveKeyBuffer(third.kek);
  t.is(cache.clear(), 1);
  t.true(
    thirdBytes.every((b) => b === 0),
    'cleared: zeroized',
  );
  t.is(clock.pending, 0);
});

test('concurrent misses share one load (single flight); a caller that gives up does not fail the others', async (t) => {
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock: new FakeClock() });
  const { loader, calls, release } = gatedLoader('p');
  const quitter = new AbortController();
  const a = cache.get('t', 'p', 1, loader, signal());
  const b = cache.get('t', 'p', 1, loader, quitter.signal);
  const c = cache.get('t', 'p', 1, loader, signal());
  quitter.abort(new Error('caller went away'));
  await t.throwsAsync(b, { message: 'caller went away' });
  release();
  const [ka, kc] = await Promise.all([a, c]);
  t.is(ka, kc);
  t.is(calls.count, 1);
  t.is(cache.stats().loads, 1);
});

test('a load that finishes after its policy was evicted is destroyed, not cached, and its waiters get StaleLoadError', async (t) => {
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock: new FakeClock() });
  const { loader, release } = gatedLoader('p');
  const pending = cache.get('t', 'p', 1, loader, signal());
  cache.evictPolicy('t', 'p');
  release();
  await t.throwsAsync(pending, { instanceOf: StaleLoadError });
  t.is(cache.stats().entries, 0);
});

test('bypassed (fail closed while deaf): a load serves its callers but nothing is kept', async (t) => {
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock: new FakeClock() });
  cache.setBypass(true);
  const key = await cache.get('t', 'p', 1, loaderFor('p').loader, signal());
  t.false(key.kek.destroyed, 'usable by the callers that shared the load');
  t.is(cache.stats().entries, 0);
  await new Promise((r) => setImmediate(r));
  t.true(key.kek.destroyed, 'zeroized once they had their turn');
});

test('the LRU bound evicts the least recently used key and zeroizes it', async (t) => {
  const cache = new KeyCache({ maxEntries: 2, maxAgeMs: 60_000, clock: new FakeClock() });
  const a = await cache.get('t', 'a', 1, loaderFor('a').loader, signal());
  const aBytes = liveKeyBuffer(a.kek);
  await cache.get('t', 'b', 1, loaderFor('b').loader, signal());
  await cache.get('t', 'c', 1, loaderFor('c').loader, signal());
  t.is(cache.peek('t', 'a', 1), undefined);
  t.true(aBytes.every((b) => b === 0));
  t.is(cache.stats().entries, 2);
});
