import test from 'ava';
import type { Clock } from '../src/clock.js';
import type { PolicyKey } from '../src/cache/key-cache.js';
import type { KeyStatus } from '../src/providers/root-key-provider.js';
import type { PolicyRecord } from '../src/registry/policy.js';
import { ProviderProbe, type ProviderProbeOptions } from '../src/revocation/provider-probe.js';
import type { RevocationEvent } from '../src/revocation/revocation-source.js';
import { FakeClock } from './helpers/fake-clock.js';

/** The probe's rules with stand-ins for the cache, registry and provider (the real thing: azure-daemon.test.ts). */

function policy(id: string, keyA: string, keyB: string, tenant = 't'): PolicyRecord {
  const copies = [
    { role: 'customer-a' as const, keyUri: keyA, algorithm: 'RSA-OAEP-256', ciphertext: '' },
    { role: 'customer-b' as const, keyUri: keyB, algorithm: 'RSA-OAEP-256', ciphertext: '' },
    { role: 'availability' as const, keyUri: 'local:avail/1', algorithm: 'RSA-OAEP-256', ciphertext: '' },
  ];
  return {
    tenant,
    id,
    name: id,
    mode: 'mailbox',
    geo: '',
    state: 'active',
    keys: { 'customer-a': keyA, 'customer-b': keyB, availability: 'local:avail/1' },
    activeVersion: 1,
    minDecryptVersion: 1,
    versions: [{ version: 1, createdAt: '', copies }],
    revision: 1,
    createdAt: '',
    updatedAt: '',
  };
}

function world(policies: PolicyRecord[], statuses: Record<string, KeyStatus | 'hang' | 'throw'> = {}) {
  const cached = policies.map((p) => ({ tenant: p.tenant, policyId: p.id, version: 1 }) as PolicyKey);
  const calls: string[] = [];
  const opts: ProviderProbeOptions = {
    cache: { entries: () => cached },
    registry: { get: (tenant, id) => policies.find((p) => p.tenant === tenant && p.id === id) },
    provider: {
      status: async (uri, { signal }) => {
        calls.push(uri);
        const s = statuses[uri];
        if (s === 'throw') throw new Error('boom');
        if (s === 'hang')
          return new Promise<KeyStatus>((_r, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
        return s ?? { uri, usable: true };
      },
    },
    intervalMs: 0,
    maxCallsPerInterval: 100,
    callTimeoutMs: 100,
  };
  return { opts, calls, cached };
}

test('keys are deduplicated across policies; a revoked key reports every policy that depends on it', async (t) => {
  const w = world([policy('p1', 'kv:a', 'kv:b'), policy('p2', 'kv:a', 'kv:c'), policy('p3', 'kv:d', 'kv:e')], {
    'kv:a': { uri: 'kv:a', usable: false, kind: 'revoked', reason: 'access_denied' },
  });
  const probe = new ProviderProbe(w.opts);
  const events: RevocationEvent[] = [];
  await probe.start((e) => events.push(e));
  const round = await probe.runOnce();
  t.deepEqual([...w.calls].sort(), ['kv:a', 'kv:b', 'kv:c', 'kv:d', 'kv:e']);
  t.deepEqual(events.map((e) => e.policyId).sort(), ['p1', 'p2']);
  t.deepEqual(round.revoked, events);
  t.true(events.every((e) => e.source === 'provider-probe' && e.reason === 'access_denied: kv:a'));
  await probe.stop();
});

test('unavailable, failing or hung status calls evict nothing', async (t) => {
  const w = world([policy('p1', 'kv:a', 'kv:b'), policy('p2', 'kv:c', 'kv:d')], {
    'kv:a': { uri: 'kv:a', usable: false, kind: 'unavailable', reason: 'throttled' },
    'kv:b': 'throw',
    'kv:c': 'hang',
  });
  const probe = new ProviderProbe(w.opts);
  const events: RevocationEvent[] = [];
  await probe.start((e) => events.push(e));
  const started = Date.now();
  // AbortSignal.timeout's timer does not keep a process alive (in the daemon the servers do): hold the loop
  // open while the hung call waits for it, or the worker would see an idle loop and give up on the test.
  const keepAlive = setInterval(() => {}, 1_000);
  const round = await probe.runOnce().finally(() => clearInterval(keepAlive));
  t.true(Date.now() - started < 10_000, 'the hung call is bounded by callTimeoutMs (not left to hang)');
  t.deepEqual(events, []);
  t.deepEqual([...round.unavailable].sort(), ['kv:a', 'kv:b', 'kv:c']);
});

test('rate limit: at most maxCallsPerInterval a round, round-robin so every key is probed', async (t) => {
  const policies = Array.from({ length: 5 }, (_, i) => policy(`p${i}`, `kv:${i}a`, `kv:${i}b`)); // 10 keys
  const w = world(policies);
  const probe = new ProviderProbe({ ...w.opts, maxCallsPerInterval: 4 });
  await probe.start(() => undefined);
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const round = await probe.runOnce();
    t.is(round.checked.length, 4);
    for (const k of round.checked) seen.add(k);
  }
  t.is(w.calls.length, 12);
  t.is(seen.size, 10, 'ceil(10 / 4) = 3 rounds cover every key');
});

test('nothing cached, nothing asked; policies gone from the registry are skipped', async (t) => {
  const w = world([]);
  const probe = new ProviderProbe(w.opts);
  t.deepEqual((await probe.runOnce()).checked, []);
  const w2 = world([policy('p1', 'kv:a', 'kv:b')]);
  const probe2 = new ProviderProbe({ ...w2.opts, registry: { get: () => undefined } });
  t.deepEqual((await probe2.runOnce()).checked, []);
  t.is(w.calls.length + w2.calls.length, 0);
});

test('the timer runs rounds every interval (jittered), rounds never overlap, stop ends them', async (t) => {
  let release = () => {};
  let gate = new Promise<void>((r) => (release = r));
  const w = world([policy('p1', 'kv:a', 'kv:b')]);
  const status = w.opts.provider.status;
  const clock = new FakeClock();
  // Each round's status calls are answered when the test releases them.
  const probe = new ProviderProbe({
    ...w.opts,
    provider: {
      status: async (uri, opts) => {
        const answer = await status(uri, opts);
        await gate;
        return answer;
      },
    },
    intervalMs: 40,
    jitter: 0.5,
    random: () => 0, // the shortest jittered interval: 40 ms x (1 - 0.5)
    clock,
  });
  await probe.start(() => undefined);
  t.is(probe.state().state, 'connected');
  for (let round = 1; round <= 4; round++) {
    clock.advance(19);
    t.is(w.calls.length, (round - 1) * 2, 'no round before the shortest jittered interval');
    clock.advance(1);
    t.is(w.calls.length, round * 2, `round ${round} started`);
    // While a round runs, no other round is due, however long it takes.
    t.is(clock.pending, 0);
    clock.advance(10_000);
    t.is(probe.state().lastSequence, round - 1);
    release();
    await probe.runOnce(); // the round in flight
    gate = new Promise<void>((r) => (release = r));
    await new Promise((r) => setImmediate(r));
    t.is(w.calls.length, round * 2);
    t.is(probe.state().lastSequence, round);
    t.is(clock.pending, 1, 'the next round is scheduled once this one ends');
  }
  await probe.stop();
  t.is(clock.pending, 0);
  clock.advance(10_000);
  t.is(w.calls.length, 8);
  t.is(probe.state().lastSequence, 4, 'no round after stop');
  t.is(probe.state().state, 'disconnected');
  t.is(new ProviderProbe({ ...w.opts, intervalMs: 0 }).state().state, 'none');
});

test('jitter keeps each delay within intervalMs x (1 +- jitter)', async (t) => {
  const delays: number[] = [];
  const clock = new FakeClock();
  const recording: Clock = {
    now: () => clock.now(),
    setTimer: (fn, ms) => {
      delays.push(ms);
      return clock.setTimer(fn, ms);
    },
  };
  const w = world([]);
  for (const r of [0, 0.5, 1]) {
    const probe = new ProviderProbe({ ...w.opts, intervalMs: 1000, jitter: 0.2, random: () => r, clock: recording });
    await probe.start(() => undefined);
    await probe.stop();
  }
  t.deepEqual(delays, [800, 1000, 1200]);
  t.is(clock.pending, 0);
});
