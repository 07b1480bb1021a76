import test from 'ava';
import { KeyCache } from '../src/cache/key-cache.js';
import { CustomerKeysError, KeyUnwrapper, type AvailabilityUse } from '../src/core/key-unwrapper.js';
import { LifecycleService } from '../src/core/lifecycle-service.js';
import { RevocationGate } from '../src/revocation/revocation-gate.js';
import { FakeClock } from './helpers/fake-clock.js';
import { FakeAuditLog, FakeProvider, FakeRegistry, fakePolicy } from './helpers/fakes.js';
import { liveKeyBuffer } from './helpers/key-bytes.js';

// The core services in process with fakes (provider, registry, audit log, clock): no daemon, no RSA.

function unwrapperFor(provider: FakeProvider, uses: AvailabilityUse[] = []) {
  return new KeyUnwrapper({
    provider,
    providerTimeoutMs: 60_000,
    hedgeDelayMs: 60_000,
    onAvailabilityUse: async (u) => void uses.push(u),
  });
}
const signal = () => new AbortController().signal;

test('single flight: concurrent misses on a cold policy cause one provider unwrap, and all get the same key', async (t) => {
  const provider = new FakeProvider();
  const policy = await fakePolicy(provider);
  const unwrapper = unwrapperFor(provider);
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock: new FakeClock() });
  const held = provider.hold();
  const started = provider.unwrapStarted();
  const calls = Array.from({ length: 100 }, () =>
    cache.get('t', 'p', 1, (s) => unwrapper.load(policy, 1, s), signal()),
  );
  await started;
  held.release();
  const keys = await Promise.all(calls);
  t.is(provider.unwraps.length, 1);
  t.true(keys.every((k) => k === keys[0]));
});

test('mailbox mode: when every customer key is unavailable the availability key serves, and its use is audited first', async (t) => {
  const provider = new FakeProvider();
  const policy = await fakePolicy(provider);
  provider.fail(policy.keys['customer-a'], 'throttled');
  provider.fail(policy.keys['customer-b'], 'throttled');
  const uses: AvailabilityUse[] = [];
  const loaded = await unwrapperFor(provider, uses).load(policy, 1, signal(), 'req-1');
  t.is(loaded.sourceRole, 'availability');
  t.is(uses.length, 1);
  t.is(uses[0]!.requestId, 'req-1');
});

test('a customer key that says revoked is never bypassed through the availability key', async (t) => {
  const provider = new FakeProvider();
  const policy = await fakePolicy(provider);
  provider.fail(policy.keys['customer-a'], 'key_disabled');
  provider.fail(policy.keys['customer-b'], 'throttled');
  const uses: AvailabilityUse[] = [];
  const err = await t.throwsAsync(unwrapperFor(provider, uses).load(policy, 1, signal()), {
    instanceOf: CustomerKeysError,
  });
  t.is(err.kind, 'revoked');
  t.is(uses.length, 0);
  t.false(provider.unwraps.includes(policy.keys.availability));
});

test('Revoke wins over a concurrent change: a revision conflict is retried on fresh state, and the cached key is zeroized', async (t) => {
  const provider = new FakeProvider();
  const policy = await fakePolicy(provider);
  const registry = new FakeRegistry([policy]);
  const unwrapper = unwrapperFor(provider);
  const cache = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000, clock: new FakeClock() });
  const audit = new FakeAuditLog();
  const gate = new RevocationGate();
  const lifecycle = new LifecycleService({
    registry,
    provider,
    unwrapper,
    cache,
    audit,
    gate,
    providerTimeoutMs: 60_000,
  });
  const cached = await cache.get('t', 'p', 1, (s) => unwrapper.load(policy, 1, s), signal());
  const bytes = liveKeyBuffer(cached.kek);
  const marks: string[] = [];
  gate.onMark((tenant, id) => marks.push(`${tenant}/${id}`));
  registry.conflictsToInject = 2; // two other writers got in first

  const revoked = await lifecycle.revoke({
    tenant: 't',
    id: 'p',
    requestId: 'r',
    actor: 'test',
    signal: signal(),
    reason: 'compromised',
  });

  t.is(revoked.state, 'revoked');
  t.is(registry.get('t', 'p')!.state, 'revoked');
  t.regex(
    registry.get('t', 'p')!.name,
    /changed concurrently/,
    'written over the concurrent change, not over stale state',
  );
  t.is(registry.updates, 3);
  t.deepEqual(marks, ['t/p'], 'refused from the start of the revoke');
  t.false(gate.isRevoking('t', 'p'), 'the mark is cleared once the registry holds the revocation');
  t.true(
    bytes.every((b) => b === 0),
    'the cached key was zeroized',
  );
  t.deepEqual(
    audit.records.map((r) => r.type),
    ['policy.revoked'],
  );
  // Idempotent: a second Revoke returns the revoked policy and writes nothing.
  await lifecycle.revoke({ tenant: 't', id: 'p', requestId: 'r2', actor: 'test', signal: signal(), reason: 'again' });
  t.is(registry.updates, 3);
  t.is(audit.records.length, 1);
});
