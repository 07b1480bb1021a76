/**
 * Revocation latency across a fleet: N unwrapd processes
 * (default 4) on one PostgreSQL registry, each a real child process on its own Unix socket, with
 * --clients (default 16) clients decrypting a --block-byte block (default 4 KiB) in closed loops, spread
 * over the instances (client c talks to instance c mod N). For each of --revocations policies (default 100):
 * create it, warm every instance (each client has had a few decrypts served), Revoke it through instance
 * i mod N, and measure
 *   - "Revoke call -> first refusal on every instance": for each instance, when the first decrypt that was
 *     refused (FAILED_PRECONDITION, or UNAVAILABLE "revocation feed lost") ended, counted from the moment
 *     the Revoke call was sent; the latency of the revocation is the largest of them;
 *   - Revoke call -> acknowledgement;
 *   - decrypts that began after the acknowledgement and succeeded, on any instance (must be 0).
 *
 * Two phases, side by side in one run:
 *   A. the default (the acknowledgement waits until every live instance has applied the revoke, or its
 *      lease has expired);
 *   B. (--phase-b) an extra instance started with UNWRAPD_FLEET_ACK_WAIT=false revokes: its acknowledgement
 *      is the commit, so late successes are expected there; it shows the raw feed propagation.
 *
 * --saturate starts a busy loop per core for the whole run (the revocation bound is stated for a saturated machine).
 * The load average at start and end is printed: the machine may be shared.
 *
 * Run: node --import=tsx bench/revocation-propagation.ts [--instances 4] [--revocations 100] [--clients 16]
 *        [--block 4096] [--saturate] [--phase-b] [--json FILE | --no-json]
 * Uses UNWRAPD_TEST_PG_URL when set, else a throwaway cluster (Debian's postgresql package).
 * A measurement, not a test: it exits 0 whatever the figures, except 1 when a decrypt succeeded after an
 * acknowledgement in phase A.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
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
    revocations: { type: 'string', default: '100' },
    clients: { type: 'string', default: '16' },
    block: { type: 'string', default: '4096' },
    'grace-ms': { type: 'string', default: '5000' },
    saturate: { type: 'boolean', default: false },
    'phase-b': { type: 'boolean', default: false },
    json: { type: 'string' },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: node --import=tsx bench/revocation-propagation.ts [--instances 4] [--revocations 100] [--clients 16] [--block 4096] [--grace-ms 5000] [--saturate] [--phase-b] [--json FILE | --no-json]\n',
  );
  process.exit(0);
}
const N = Number(values.instances);
const REVOCATIONS = Number(values.revocations);
const CLIENTS = Number(values.clients);
const BLOCK = Number(values.block);
if (
  !Number.isInteger(N) ||
  N < 2 ||
  !Number.isInteger(REVOCATIONS) ||
  REVOCATIONS < 1 ||
  !Number.isInteger(CLIENTS) ||
  CLIENTS < N ||
  !Number.isInteger(BLOCK) ||
  BLOCK < 1
) {
  throw new Error('--instances >= 2, --revocations >= 1, --clients >= --instances, --block >= 1');
}

const TENANT = 'bench';
const FAILED_PRECONDITION = 9;
const UNAVAILABLE = 14;

interface Sample {
  via: number;
  /** Revoke call sent -> acknowledged. */
  revokeMs: number;
  /** Revoke call sent -> the first refused decrypt ended, per instance. */
  firstRefusalMs: number[];
  /** The largest of firstRefusalMs: every instance refuses by then. */
  everyInstanceRefusesMs: number;
  decrypts: number;
  /** Decrypts that began after the acknowledgement and succeeded (must be 0 in phase A). */
  lateSuccesses: number;
  /** Refusals that were UNAVAILABLE "revocation feed lost" (a fenced instance) rather than FAILED_PRECONDITION. */
  fencedRefusals: number;
  /** Refusals of requests that began before the Revoke was sent (only a fenced instance does that). */
  refusedBeforeRevoke: number;
}

const busy: ChildProcess[] = [];
if (values.saturate) {
  for (let i = 0; i < cpus().length; i++) busy.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
}
const loadAtStart = loadavg();

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
  const env = {
    UNWRAPD_FEED_GRACE_MS: String(values['grace-ms']),
    UNWRAPD_MAX_POLICIES_PER_TENANT: '100000',
    UNWRAPD_LOG_LEVEL: 'error',
  };
  const start = (i: number, extra: Record<string, string> = {}) =>
    startFleetInstance({
      name: `instance ${i}`,
      dir: join(dir, `i${i}`),
      keystorePath,
      pgUrl: url,
      env: { ...env, ...extra },
    });
  fleet.push(...(await Promise.all(Array.from({ length: N }, (_, i) => start(i)))));
  started.push(...fleet);
  const noWait = values['phase-b'] ? await start(N, { UNWRAPD_FLEET_ACK_WAIT: 'false' }) : undefined;
  if (noWait) started.push(noWait);
  const block = Buffer.alloc(BLOCK, 0x5a);

  const measure = async (id: string, via: FleetInstance, viaIndex: number): Promise<Sample> => {
    await via.client.createPolicy({
      tenant: TENANT,
      id,
      name: id,
      mode: 'POLICY_MODE_MAILBOX',
      customerKeyA: 'local:bench-a',
      customerKeyB: 'local:bench-b',
      availabilityKey: 'local:bench-avail',
    });
    // Every instance has it (creation does not wait for the fleet).
    for (const f of fleet) {
      while (
        !(await f.client.getPolicy(TENANT, id).then(
          () => true,
          () => false,
        ))
      )
        await new Promise((r) => setTimeout(r, 2));
    }
    const { envelope } = await fleet[0]!.client.encrypt({ tenant: TENANT, policyId: id, plaintext: block });

    const served = new Array<number>(CLIENTS).fill(0);
    const firstRefusalAt = new Array<number>(N).fill(Number.POSITIVE_INFINITY);
    let ackAt = Number.POSITIVE_INFINITY;
    let revokeAt = Number.POSITIVE_INFINITY;
    let decrypts = 0;
    let lateSuccesses = 0;
    let fencedRefusals = 0;
    let refusedBeforeRevoke = 0;
    let running = true;
    let warmed: () => void = () => {};
    const warm = new Promise<void>((resolve) => (warmed = resolve));
    const client = async (c: number) => {
      const instance = c % N;
      const f = fleet[instance]!;
      while (running) {
        const began = performance.now();
        try {
          await f.client.decrypt({ tenant: TENANT, envelope });
          decrypts++;
          if (began > ackAt) lateSuccesses++;
          if (++served[c]! === 3 && served.every((n) => n >= 3)) warmed();
        } catch (err) {
          const code = (err as { code?: number }).code;
          const details = String((err as { details?: string }).details ?? '');
          const fenced = code === UNAVAILABLE && details.includes('revocation feed lost');
          if (code !== FAILED_PRECONDITION && !fenced) throw err;
          if (fenced) fencedRefusals++;
          if (began < revokeAt) {
            // Fenced before the revoke (a renewal late on a saturated machine): counted, not a revocation latency.
            refusedBeforeRevoke++;
            continue;
          }
          decrypts++;
          const ended = performance.now();
          if (ended < firstRefusalAt[instance]!) firstRefusalAt[instance] = ended;
          if (firstRefusalAt.every((x) => Number.isFinite(x)) && ackAt < Number.POSITIVE_INFINITY) running = false;
        }
      }
    };
    const loops = Array.from({ length: CLIENTS }, (_, c) => client(c));
    await Promise.race([warm, new Promise((r) => setTimeout(r, 10_000))]);
    revokeAt = performance.now();
    await via.client.revoke({ tenant: TENANT, id, reason: 'bench' });
    ackAt = performance.now();
    if (firstRefusalAt.every((x) => Number.isFinite(x))) running = false;
    const guard = setTimeout(() => {
      running = false;
    }, 30_000);
    await Promise.all(loops);
    clearTimeout(guard);
    const firstRefusalMs = firstRefusalAt.map((x) => x - revokeAt);
    return {
      via: viaIndex,
      revokeMs: ackAt - revokeAt,
      firstRefusalMs,
      everyInstanceRefusesMs: Math.max(...firstRefusalMs),
      decrypts,
      lateSuccesses,
      fencedRefusals,
      refusedBeforeRevoke,
    };
  };

  // A few unmeasured rounds first (JIT, connections).
  for (let i = 0; i < 3; i++) await measure(`warmup-${i}`, fleet[i % N]!, i % N);

  const phaseA: Sample[] = [];
  for (let i = 0; i < REVOCATIONS; i++) phaseA.push(await measure(`a-${i}`, fleet[i % N]!, i % N));
  const phaseB: Sample[] = [];
  if (noWait) for (let i = 0; i < REVOCATIONS; i++) phaseB.push(await measure(`b-${i}`, noWait, N));
  const loadAtEnd = loadavg();

  const stats = (xs: number[]) => {
    const sorted = Float64Array.from(xs).sort();
    return {
      n: xs.length,
      p50: percentileOfSorted(sorted, 0.5),
      p99: percentileOfSorted(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? NaN,
    };
  };
  const rows: Array<[string, ReturnType<typeof stats>]> = [
    ['A (ack waits for the fleet): Revoke call -> ack', stats(phaseA.map((s) => s.revokeMs))],
    ['A: Revoke call -> first refusal on every instance', stats(phaseA.map((s) => s.everyInstanceRefusesMs))],
  ];
  if (noWait) {
    rows.push(['B (ack = commit): Revoke call -> ack', stats(phaseB.map((s) => s.revokeMs))]);
    rows.push([
      'B: Revoke call -> first refusal on every instance',
      stats(phaseB.map((s) => s.everyInstanceRefusesMs)),
    ]);
  }
  const sum = (xs: Sample[], f: (s: Sample) => number) => xs.reduce((n, s) => n + f(s), 0);
  const late = sum(phaseA, (s) => s.lateSuccesses);
  const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `revocation latency: ${N} instances${noWait ? ' + 1 (phase B)' : ''}, ${CLIENTS} clients decrypting ${BLOCK}-byte blocks, ${REVOCATIONS} revocations per phase`,
    `${cpus().length} cores, node ${process.version}, ${values.saturate ? `saturated (${busy.length} busy loops)` : 'no busy loops added'}; load average (1/5/15 min) at start ${fmtLoad(loadAtStart)}, at end ${fmtLoad(loadAtEnd)}`,
    '',
    `${'measure'.padEnd(60)} ${'n'.padStart(4)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`,
    ...rows.map(
      ([name, s]) =>
        `${name.padEnd(60)} ${String(s.n).padStart(4)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)} ${s.max.toFixed(2).padStart(8)}`,
    ),
    '',
    `phase A: ${sum(phaseA, (s) => s.decrypts)} decrypts; ${late} began after the acknowledgement and succeeded (must be 0); ${sum(phaseA, (s) => s.fencedRefusals)} refusals were "revocation feed lost" (a fenced instance), ${sum(phaseA, (s) => s.refusedBeforeRevoke)} of them before the revoke`,
    ...(noWait
      ? [
          `phase B: ${sum(phaseB, (s) => s.lateSuccesses)} decrypts began after the (commit) acknowledgement and succeeded (expected: B does not wait)`,
        ]
      : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (late > 0) exitCode = 1;
  if (!values['no-json']) {
    const file =
      values.json ??
      join('bench', 'results', `revocation-propagation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(
      file,
      JSON.stringify(
        {
          instances: N,
          clients: CLIENTS,
          block: BLOCK,
          revocations: REVOCATIONS,
          saturated: values.saturate,
          loadAtStart,
          loadAtEnd,
          node: process.version,
          cores: cpus().length,
          phaseA,
          phaseB,
          summary: Object.fromEntries(rows),
        },
        null,
        2,
      ),
    );
    process.stdout.write(`results: ${file}\n`);
  }
} finally {
  for (const b of busy) b.kill('SIGKILL');
  await Promise.allSettled(started.map((f) => f.stop()));
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);
