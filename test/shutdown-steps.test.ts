import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnwrapdClient } from '../src/client/client.js';
import { resolveConfig, type Config } from '../src/config/config.js';
import { startDaemon } from '../src/daemon/daemon.js';
import { runShutdownSteps } from '../src/daemon/shutdown-steps.js';
import { createLogger } from '../src/log/logger.js';
import type { RootKeyProvider } from '../src/providers/root-key-provider.js';
import type { PolicyRegistry } from '../src/registry/policy-registry.js';
import type { RevocationSource } from '../src/revocation/revocation-source.js';
import { FakeClock } from './helpers/fake-clock.js';
import { TEST_ROLES } from './helpers/test-daemon.js';

/**
 * Shutdown is guarded step by step (src/daemon/shutdown-steps.ts): a close that throws or never settles
 * does not stop the steps after it, the key cache is zeroized whatever happened before, and the whole is
 * bounded. The faults come in through the daemon's seams (a revocation source, the registry and the
 * provider wrapped), not by patching internals.
 */

const PLAINTEXT = 'shutdown-steps plaintext that must never be logged';

/** A revocation source whose stop fails as asked: by throwing, or by never settling. */
function faultySource(name: string, fault: 'throw' | 'hang'): RevocationSource & { stopCalls: number } {
  const source = {
    name,
    stopCalls: 0,
    start: async () => {},
    state: () => ({ state: 'connected' as const, lastSequence: 0 }),
    stop: () => {
      source.stopCalls++;
      if (fault === 'throw') return Promise.reject(new Error(`${name} cannot stop`));
      return new Promise<void>(() => {});
    },
  };
  return source;
}

/** Delegates to the real registry; close runs it, then fails as asked. */
function faultyRegistry(inner: PolicyRegistry, fault: 'throw' | 'hang', calls: { close: number }): PolicyRegistry {
  return {
    description: inner.description,
    open: () => inner.open(),
    get: (tenant, id) => inner.get(tenant, id),
    list: (tenant) => inner.list(tenant),
    create: (record) => inner.create(record),
    update: (record, revision) => inner.update(record, revision),
    onChange: (listener) => inner.onChange(listener),
    close: async () => {
      calls.close++;
      await inner.close();
      if (fault === 'throw') throw new Error('registry cannot close');
      await new Promise<void>(() => {});
    },
  };
}

/** Delegates to the real provider; close runs it, then fails as asked. */
function faultyProvider(inner: RootKeyProvider, fault: 'throw' | 'hang', calls: { close: number }): RootKeyProvider {
  const wrapped: RootKeyProvider = Object.create(null);
  for (const key of Object.keys(inner) as Array<keyof RootKeyProvider>) {
    const value = inner[key];
    (wrapped as unknown as Record<string, unknown>)[key] =
      typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(inner) : value;
  }
  wrapped.close = async () => {
    calls.close++;
    await inner.close();
    if (fault === 'throw') throw new Error('provider cannot close');
    await new Promise<void>(() => {});
  };
  return wrapped;
}

/** Lets the runner go on (promise callbacks, then a turn) until it has set a timer; fails if it never does. */
async function untilTimerSet(clock: FakeClock): Promise<void> {
  for (let turn = 0; clock.pending === 0; turn++) {
    if (turn > 1000) throw new Error('the runner set no timer');
    await new Promise((r) => setImmediate(r));
  }
}

async function daemonWithFaults(fault: 'throw' | 'hang', overrides: Partial<Config> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-shutdown-'));
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l));
  // Each step bounded at 300 ms; the overall bound far above the steps' sum, so that a slow machine never cuts
  // a close these tests expect to run (the overall bound has its own test, on a fake clock, below).
  const config: Config = resolveConfig(
    { dataDir: dir, ...TEST_ROLES, shutdownTimeoutMs: 30_000, shutdownStepTimeoutMs: 300, ...overrides },
    { validate: false },
  );
  const registryCalls = { close: 0 };
  const providerCalls = { close: 0 };
  const sources = [faultySource('fake-source-a', fault), faultySource('fake-source-b', fault)];
  const daemon = await startDaemon(config, {
    log,
    wrapRegistry: (r) => faultyRegistry(r, fault, registryCalls),
    wrapProvider: (p) => faultyProvider(p, fault, providerCalls),
    revocationSources: sources,
  });
  const client = new UnwrapdClient(daemon.address, { adminAddress: daemon.adminAddress });
  // A key in the cache, to be zeroized.
  const sealed = await client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from(PLAINTEXT) });
  const cached = daemon.cache.entries();
  client.close();
  return {
    daemon,
    sealed,
    cached,
    lines,
    sources,
    registryCalls,
    providerCalls,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

test('a close that throws (revocation sources, registry, provider) skips nothing after it: the cache is zeroized, every close runs, each failure is logged', async (t) => {
  const d = await daemonWithFaults('throw');
  t.teardown(d.cleanup);
  t.true(d.cached.length > 0, 'a key was cached');
  t.true(d.cached.every((e) => !e.kek.destroyed));

  const { drained } = await d.daemon.shutdown();
  t.true(drained);
  t.deepEqual(d.daemon.cache.entries(), [], 'the cache is empty');
  t.true(
    d.cached.every((e) => e.kek.destroyed),
    'every cached key was zeroized',
  );
  t.true(
    d.sources.every((s) => s.stopCalls === 1),
    'both sources were asked to stop, the second despite the first failing',
  );
  t.is(d.registryCalls.close, 1, 'the registry was closed after the fleet close failed');
  t.is(d.providerCalls.close, 1, 'the providers were closed after the registry close failed');

  const log = d.lines.join('');
  for (const step of ['close the fleet', 'close the registry', 'close the providers']) {
    t.true(
      log.includes(`"step":"${step}"`) && log.includes('shutdown step failed'),
      `the failure of "${step}" is logged`,
    );
  }
  t.true(
    log.includes('"source":"fake-source-a"') && log.includes('"source":"fake-source-b"'),
    'each source that failed to stop is named',
  );
  t.true(
    log.includes('"zeroized_entries":1') || log.includes(`"zeroized_entries":${d.cached.length}`),
    'the final line counts what was zeroized',
  );
  t.false(log.includes(PLAINTEXT), 'no plaintext in the log');
  t.false(log.includes(Buffer.from(d.sealed.envelope).toString('base64')), 'no ciphertext in the log');
});

test('a close that never settles (revocation sources, registry, provider) is left behind after its bound: shutdown returns, the cache is zeroized, the steps after it run', async (t) => {
  const d = await daemonWithFaults('hang');
  t.teardown(d.cleanup);
  t.true(d.cached.length > 0);

  // Resolves although three closes never will: each step is bounded.
  const { drained } = await d.daemon.shutdown();
  t.true(drained);
  t.true(
    d.cached.every((e) => e.kek.destroyed),
    'every cached key was zeroized',
  );
  t.true(d.sources.every((s) => s.stopCalls === 1));
  t.is(d.registryCalls.close, 1, 'the registry close ran after the fleet close hung');
  t.is(d.providerCalls.close, 1, 'the provider close ran after the registry close hung');
  const log = d.lines.join('');
  for (const step of ['close the fleet', 'close the registry', 'close the providers']) {
    t.true(log.includes(`"step":"${step}"`), `"${step}" is logged`);
  }
  t.true(log.includes('did not finish in time'));
});

test('the step runner: a throw, a rejection and a hang are each logged and passed; past the overall deadline only `always` steps run', async (t) => {
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l));
  const ran: string[] = [];
  let release: () => void = () => {};
  // The bounds run on a clock the test moves: however slow the machine, 50 ms pass only when it says so.
  const clock = new FakeClock();
  const running = runShutdownSteps(
    [
      {
        name: 'throws',
        run: () => {
          ran.push('throws');
          throw new Error('sync failure');
        },
      },
      {
        name: 'rejects',
        run: async () => {
          ran.push('rejects');
          throw new Error('async failure');
        },
      },
      {
        name: 'hangs',
        timeoutMs: 50,
        run: () => {
          ran.push('hangs');
          return new Promise<void>((r) => (release = r));
        },
      },
      { name: 'after', run: () => ran.push('after') },
      // Uses up what is left of the overall bound.
      {
        name: 'hangs past the deadline',
        run: () => {
          ran.push('hangs past the deadline');
          return new Promise<void>(() => {});
        },
      },
      { name: 'skipped', run: () => ran.push('skipped') },
      { name: 'zeroize', always: true, run: () => ran.push('zeroize') },
      { name: 'also skipped', run: () => ran.push('also skipped') },
    ],
    { stepTimeoutMs: 10_000, deadlineMs: 300, log, clock },
  );
  await untilTimerSet(clock);
  t.deepEqual(ran, ['throws', 'rejects', 'hangs']);
  clock.advance(49);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(ran, ['throws', 'rejects', 'hangs'], 'the hanging step has its 50 ms');
  clock.advance(1);
  await untilTimerSet(clock);
  t.deepEqual(ran, ['throws', 'rejects', 'hangs', 'after', 'hangs past the deadline']);
  clock.advance(250); // the overall deadline
  const outcome = await running;
  release();
  t.deepEqual(ran, ['throws', 'rejects', 'hangs', 'after', 'hangs past the deadline', 'zeroize']);
  t.deepEqual(outcome, {
    failed: ['throws', 'rejects'],
    timedOut: ['hangs', 'hangs past the deadline'],
    skipped: ['skipped', 'also skipped'],
  });
  const text = lines.join('');
  t.true(text.includes('sync failure') && text.includes('async failure'), 'each error message is logged');
  t.true(text.includes('"step":"skipped"') && text.includes('ran out of time'));
});

test('the step runner: a step that rejects after its bound does not surface as an unhandled rejection', async (t) => {
  const log = createLogger('silent');
  let fail: (err: Error) => void = () => {};
  const late = new Promise<void>((_r, reject) => (fail = reject));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const outcome = await runShutdownSteps([{ name: 'late', timeoutMs: 10, run: () => late }], {
    stepTimeoutMs: 10,
    deadlineMs: 1_000,
    log,
  });
  t.deepEqual(outcome.timedOut, ['late']);
  fail(new Error('too late'));
  // Let the rejection's handlers run (microtasks, then a macrotask turn).
  await new Promise((r) => setImmediate(r));
  t.deepEqual(unhandled, []);
});
