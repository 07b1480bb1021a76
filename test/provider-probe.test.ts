import test from 'ava';
import type { PolicyKey } from '../src/cache/key-cache.js';
import type { KeyStatus } from '../src/providers/root-key-provider.js';
import type { PolicyRecord } from '../src/registry/policy.js';
import { ProviderProbe, type ProviderProbeOptions } from '../src/revocation/provider-probe.js';
import type { RevocationEvent } from '../src/revocation/revocation-source.js';
import { waitFor } from './helpers/wait-for.js';

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
  const w = world([policy('p1', 'kv:a', 'kv:b')]);
  const probe = new ProviderProbe({ ...w.opts, intervalMs: 40, jitter: 0.5 });
  await probe.start(() => undefined);
  t.is(probe.state().state, 'connected');
  const started = performance.now();
  // Rounds keep coming (however busy the machine), never faster than the shortest jittered interval (20 ms).
  await waitFor(() => probe.state().lastSequence >= 4, 'four rounds');
  await probe.stop();
  const elapsed = performance.now() - started;
  const rounds = probe.state().lastSequence;
  t.true(rounds <= Math.ceil(elapsed / 20) + 1, `${rounds} rounds in ${elapsed.toFixed(0)} ms at 40 ms +-50%`);
  t.is(w.calls.length, rounds * 2);
  await new Promise((r) => setTimeout(r, 120));
  t.is(probe.state().lastSequence, rounds, 'no round after stop');
  t.is(probe.state().state, 'disconnected');
  t.is(new ProviderProbe({ ...w.opts, intervalMs: 0 }).state().state, 'none');
});

test.serial('jitter keeps each delay within intervalMs x (1 +- jitter)', async (t) => {
  const delays: number[] = [];
  const realSetTimeout = globalThis.setTimeout;
  const w = world([]);
  for (const r of [0, 0.5, 1]) {
    const probe = new ProviderProbe({ ...w.opts, intervalMs: 1000, jitter: 0.2, random: () => r });
    (globalThis as { setTimeout: unknown }).setTimeout = ((fn: () => void, ms: number) => {
      delays.push(ms);
      return realSetTimeout(fn, 1e9);
    }) as unknown;
    try {
      await probe.start(() => undefined);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    await probe.stop();
  }
  t.deepEqual(delays, [800, 1000, 1200]);
});
