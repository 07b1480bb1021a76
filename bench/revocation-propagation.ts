/**
 * Revocation propagation across a fleet (issue 5): N unwrapd processes (default 4) on one PostgreSQL
 * registry, each a real child process on its own Unix socket. For each of --revocations policies (default
 * 60): create it, warm every instance's cache with an Encrypt, then Revoke it through instance i mod N and
 * measure, from the moment the Revoke is acknowledged, how long until every instance refuses an Encrypt
 * under it (each instance is polled in a tight loop from the acknowledgement on).
 *
 * Two phases, side by side in one run:
 *   A. the default (fleetAckWait on): Revoke returns once every live instance has applied it, so "ack to
 *      last refusal" is at most one poll round trip, and Revoke's own latency carries the propagation;
 *   B. an extra instance started with UNWRAPD_FLEET_ACK_WAIT=false revokes: its acknowledgement is the
 *      commit, so "ack to last refusal" is the raw feed propagation (NOTIFY, read the log, reload, evict).
 *
 * Run: node --import=tsx bench/revocation-propagation.ts [--instances 4] [--revocations 60] [--json FILE]
 * Uses UNWRAPD_TEST_PG_URL when set, else a throwaway cluster (Debian's postgresql package).
 * A measurement, not a test: it exits 0 whatever the figures (non-zero only if something broke, e.g. an
 * Encrypt succeeded after the acknowledgement in phase A).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { startFleetInstance, type FleetInstance } from '../test/helpers/fleet-instance.js';
import { startTestPostgres } from '../test/helpers/postgres.js';
import { percentileOfSorted } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '4' },
    revocations: { type: 'string', default: '60' },
    'grace-ms': { type: 'string', default: '5000' },
    json: { type: 'string' },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: node --import=tsx bench/revocation-propagation.ts [--instances 4] [--revocations 60] [--grace-ms 5000] [--json FILE | --no-json]\n');
  process.exit(0);
}
const N = Number(values.instances);
const REVOCATIONS = Number(values.revocations);
if (!Number.isInteger(N) || N < 2 || !Number.isInteger(REVOCATIONS) || REVOCATIONS < 1) throw new Error('--instances >= 2 and --revocations >= 1');

const TENANT = 'bench';
const FAILED_PRECONDITION = 9;

interface Sample {
  via: number;
  revokeMs: number;
  ackToLastRefusalMs: number;
  perInstanceMs: number[];
  /** Encrypts that began after the acknowledgement and succeeded (must be 0 in phase A). */
  lateSuccesses: number;
}

const pg = await startTestPostgres();
const dir = await mkdtemp(join(tmpdir(), 'uwd-bench-fleet-'));
const fleet: FleetInstance[] = [];
/** Every process started, for the cleanup. */
const started: FleetInstance[] = [];
let exitCode = 0;
try {
  const url = await pg.createDatabase('bench');
  const keystorePath = join(dir, 'keystore.json');
  const keystore = await openLocalKeystore(keystorePath);
  await Promise.all(['bench-a', 'bench-b', 'bench-avail'].map((k) => keystore.createKey(k)));
  const env = { UNWRAPD_FEED_GRACE_MS: String(values['grace-ms']), UNWRAPD_MAX_POLICIES_PER_TENANT: '100000', UNWRAPD_LOG_LEVEL: 'error' };
  const start = (i: number, extra: Record<string, string> = {}) =>
    startFleetInstance({ name: `instance ${i}`, dir: join(dir, `i${i}`), keystorePath, pgUrl: url, env: { ...env, ...extra } });
  fleet.push(...(await Promise.all(Array.from({ length: N }, (_, i) => start(i)))));
  started.push(...fleet);
  const noWait = await start(N, { UNWRAPD_FLEET_ACK_WAIT: 'false' });
  started.push(noWait);

  const measure = async (id: string, via: FleetInstance, viaIndex: number, observed: FleetInstance[]): Promise<Sample> => {
    await via.client.createPolicy({ tenant: TENANT, id, name: id, mode: 'POLICY_MODE_MAILBOX', customerKeyA: 'local:bench-a', customerKeyB: 'local:bench-b', availabilityKey: 'local:bench-avail' });
    // Every instance has it and has its key cached.
    for (const f of [...observed, via]) {
      for (;;) {
        try {
          await f.client.encrypt({ tenant: TENANT, policyId: id, plaintext: Buffer.alloc(64) });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    }
    const t0 = performance.now();
    await via.client.revoke({ tenant: TENANT, id, reason: 'bench' });
    const ack = performance.now();
    let lateSuccesses = 0;
    const perInstanceMs = await Promise.all(
      observed.map(async (f) => {
        for (;;) {
          const began = performance.now();
          try {
            await f.client.encrypt({ tenant: TENANT, policyId: id, plaintext: Buffer.alloc(64) });
            if (began > ack) lateSuccesses++;
          } catch (err) {
            if ((err as { code?: number }).code !== FAILED_PRECONDITION) throw err;
            return performance.now() - ack;
          }
          if (performance.now() - ack > 30_000) throw new Error(`${f.name} still serves ${id} 30 s after the revoke`);
        }
      }),
    );
    return { via: viaIndex, revokeMs: ack - t0, ackToLastRefusalMs: Math.max(...perInstanceMs), perInstanceMs, lateSuccesses };
  };

  // A few unmeasured rounds first (JIT, connections).
  for (let i = 0; i < 3; i++) await measure(`warmup-${i}`, fleet[i % N]!, i % N, fleet);

  const phaseA: Sample[] = [];
  for (let i = 0; i < REVOCATIONS; i++) phaseA.push(await measure(`a-${i}`, fleet[i % N]!, i % N, fleet));
  const phaseB: Sample[] = [];
  for (let i = 0; i < REVOCATIONS; i++) phaseB.push(await measure(`b-${i}`, noWait, N, fleet));

  const stats = (xs: number[]) => {
    const sorted = Float64Array.from(xs).sort();
    return { n: xs.length, p50: percentileOfSorted(sorted, 0.5), p99: percentileOfSorted(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
  };
  const rows = [
    ['A (ack waits for the fleet): Revoke call -> ack', stats(phaseA.map((s) => s.revokeMs))],
    ['A (ack waits for the fleet): ack -> last instance refusing', stats(phaseA.map((s) => s.ackToLastRefusalMs))],
    ['B (ack = commit): Revoke call -> ack', stats(phaseB.map((s) => s.revokeMs))],
    ['B (ack = commit): ack -> last instance refusing', stats(phaseB.map((s) => s.ackToLastRefusalMs))],
  ] as const;
  const late = phaseA.reduce((n, s) => n + s.lateSuccesses, 0);
  const lines = [
    `revocation propagation: ${N} instances + 1 (phase B), ${REVOCATIONS} revocations per phase, ${cpus().length} cores, node ${process.version}`,
    '',
    `${'measure'.padEnd(60)} ${'n'.padStart(4)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`,
    ...rows.map(([name, s]) => `${name.padEnd(60)} ${String(s.n).padStart(4)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)} ${s.max.toFixed(2).padStart(8)}`),
    '',
    `phase A: encrypts that began after the acknowledgement and succeeded: ${late} (must be 0)`,
    `target: p99 of "ack -> last instance refusing" under 100 ms: A ${rows[1][1].p99 < 100 ? 'PASS' : 'MISS'}, B ${rows[3][1].p99 < 100 ? 'PASS' : 'MISS'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (late > 0) exitCode = 1;
  if (!values['no-json']) {
    const file = values.json ?? join('bench', 'results', `revocation-propagation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, JSON.stringify({ instances: N, revocations: REVOCATIONS, node: process.version, cores: cpus().length, phaseA, phaseB, summary: Object.fromEntries(rows) }, null, 2));
    process.stdout.write(`results: ${file}\n`);
  }
} finally {
  await Promise.allSettled(started.map((f) => f.stop()));
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);
