/**
 * `npm run bench:hostile`: what a misbehaving caller costs the daemon and its other callers. For each attack
 * of bench/lib/hostile-attacks.ts: a fresh daemon process (test/helpers/daemon-process.ts), a steady Decrypt
 * probe on a connection of its own (bench/lib/hostile-probe.ts), its p99 over --baseline-ms without attack,
 * then the attack, the daemon's RSS peak during it (/proc, every 100 ms) and the probe's p99 over the calls
 * that overlapped it. Prints PASS/MISS against the aims (RSS growth at most --max-growth-mib, probe p99
 * under --max-p99-ms) and what the attacker got back. A measurement: exits 0 whatever the verdicts, unless
 * --strict. bench/README.md explains how to read it.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { UnwrapdClient } from '../src/client/client.js';
import { DEMO_POLICY, DEMO_TENANT } from '../src/daemon/demo.js';
import { startDaemonProcess } from '../test/helpers/daemon-process.js';
import { ATTACKS, type Attack, type AttackOutcome } from './lib/hostile-attacks.js';
import { ProbeThread, probeWindow, RssPeak, wallNow, type ProbeWindow } from './lib/hostile-probe.js';
import { mib, rssBytes } from './lib/proc-memory.js';
import { exitOnHelp, RESULTS_FILE_OPTIONS, writeResults } from './lib/results-file.js';
import { formatTable, num } from './lib/table.js';

const USAGE = `usage: npm run bench:hostile -- [options]
  --attacks <list>        which attacks, comma-separated (default: all): ${ATTACKS.map((a) => a.name).join(', ')}
  --baseline-ms <n>       probe time without attack (default 3000)
  --hold-ms <n>           how long the idle streams are held open (default 15000)
  --probe-concurrency <n> concurrent probe Decrypts (default 2)
  --max-growth-mib <n>    aim: RSS growth at most this (default 64)
  --max-p99-ms <n>        aim: probe p99 during the attack under this (default 50)
  --strict                exit 1 when any attack misses an aim
  --json <file>           results file (default bench/results/hostile-<timestamp>.json); --no-json: none`;

const { values } = parseArgs({
  options: {
    attacks: { type: 'string' },
    'baseline-ms': { type: 'string', default: '3000' },
    'hold-ms': { type: 'string', default: '15000' },
    'probe-concurrency': { type: 'string', default: '2' },
    'max-growth-mib': { type: 'string', default: '64' },
    'max-p99-ms': { type: 'string', default: '50' },
    strict: { type: 'boolean', default: false },
    ...RESULTS_FILE_OPTIONS,
  },
  strict: true,
});
exitOnHelp(values, USAGE);
const chosen = values.attacks ? values.attacks.split(',').map((n) => n.trim()) : ATTACKS.map((a) => a.name);
const unknown = chosen.filter((n) => !ATTACKS.some((a) => a.name === n));
if (unknown.length) {
  console.error(`unknown attack(s): ${unknown.join(', ')}\n${USAGE}`);
  process.exit(2);
}
const baselineMs = Number(values['baseline-ms']);
const holdMs = Number(values['hold-ms']);
const maxGrowthMiB = Number(values['max-growth-mib']);
const maxP99Ms = Number(values['max-p99-ms']);

interface AttackResult {
  name: string;
  describe: string;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
  growthMiB: number;
  attackMs: number;
  baseline: ProbeWindow;
  during: ProbeWindow;
  outcome: { got: Record<string, number>; notes: string[]; refused: boolean | undefined };
  memoryPass: boolean;
  latencyPass: boolean;
  error?: string;
}

const ATTACK_LIMIT_MS = 150_000;

async function runOne(attack: Attack): Promise<AttackResult> {
  const daemon = await startDaemonProcess({}, { readyTimeoutMs: 300_000 });
  const client = new UnwrapdClient(daemon.address, { adminAddress: daemon.adminAddress });
  let probe: ProbeThread | undefined;
  try {
    await client.waitForReady(30_000);
    const envelope = (
      await client.encrypt({ tenant: DEMO_TENANT, policyId: DEMO_POLICY, plaintext: Buffer.alloc(4096, 7) })
    ).envelope;
    const parts: Buffer[] = [];
    for await (const b of client.encryptStream({ tenant: DEMO_TENANT, policyId: DEMO_POLICY }, [
      Buffer.alloc(256 * 1024, 9),
    ]))
      parts.push(b);
    // The probe runs in a worker thread: the attacker's own work on this thread does not delay its calls.
    probe = new ProbeThread(daemon.address, { tenant: DEMO_TENANT, envelope }, Number(values['probe-concurrency']));
    // Connections, JIT and the key cache settle outside the baseline: at least 1 s and 50 probe calls.
    await probe.warm(50, 1_000);
    const baseFrom = wallNow();
    await new Promise((r) => setTimeout(r, baselineMs));
    const rssBefore = rssBytes(daemon.pid) ?? 0;
    const peak = new RssPeak(daemon.pid);
    const attackFrom = wallNow();
    let outcome: AttackOutcome;
    let error: string | undefined;
    try {
      outcome = await Promise.race([
        attack.run({
          address: daemon.address,
          tenant: DEMO_TENANT,
          policy: DEMO_POLICY,
          envelope,
          streamEnvelope: Buffer.concat(parts),
          holdMs,
        }),
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`attack still running after ${ATTACK_LIMIT_MS / 1000} s`)),
            ATTACK_LIMIT_MS,
          ).unref(),
        ),
      ]);
    } catch (err) {
      error = (err as Error).message;
      outcome = { got: new Map(), notes: [] };
    }
    const attackTo = wallNow();
    const rssPeak = peak.stop();
    const samples = await probe.stop();
    probe = undefined;
    const rssAfter = rssBytes(daemon.pid) ?? 0;
    // The baseline: calls that started and ended before the attack.
    const baseline = probeWindow(samples, baseFrom, attackFrom, true);
    const during = probeWindow(samples, attackFrom, attackTo);
    const growthMiB = mib(rssPeak - rssBefore);
    return {
      name: attack.name,
      describe: attack.describe,
      rssBeforeMiB: mib(rssBefore),
      rssPeakMiB: mib(rssPeak),
      rssAfterMiB: mib(rssAfter),
      growthMiB,
      attackMs: attackTo - attackFrom,
      baseline,
      during,
      outcome: { got: Object.fromEntries(outcome.got), notes: outcome.notes, refused: outcome.refused },
      memoryPass: growthMiB <= maxGrowthMiB,
      // No probe call during the attack is not a pass: the daemon may have served nobody.
      latencyPass: during.count > 0 && during.failed === 0 && during.p99Ms < maxP99Ms,
      ...(error ? { error } : {}),
    };
  } finally {
    await probe?.stop().catch(() => undefined);
    client.close();
    await daemon.stop();
  }
}

const startedAt = new Date();
console.log(
  `hostile: ${chosen.length} attack(s), a fresh daemon process each; probe: ${values['probe-concurrency']} concurrent Decrypts of 4 KiB on its own connection; ` +
    `aims: RSS +${maxGrowthMiB} MiB at most, probe p99 < ${maxP99Ms} ms; ${cpus().length} cpus, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);
const results: AttackResult[] = [];
const failed: string[] = [];
for (const name of chosen) {
  const attack = ATTACKS.find((a) => a.name === name)!;
  process.stderr.write(`  ${attack.name}: ${attack.describe}\n`);
  try {
    const r = await runOne(attack);
    results.push(r);
    process.stderr.write(
      `    RSS +${num(r.growthMiB, 1)} MiB, probe p99 ${num(r.baseline.p99Ms, 1)} -> ${num(r.during.p99Ms, 1)} ms, got ${JSON.stringify(r.outcome.got)}\n`,
    );
  } catch (err) {
    // The daemon did not start, or the set-up failed: say so and go on with the next attack.
    process.stderr.write(`    not measured: ${(err as Error).message}\n`);
    failed.push(`${attack.name}: not measured (${(err as Error).message})`);
  }
}

const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
console.log(
  formatTable(
    [
      { header: 'attack', align: 'left' },
      { header: 'ms' },
      { header: 'RSS before' },
      { header: 'peak' },
      { header: 'growth MiB' },
      { header: 'mem' },
      { header: 'probe p99 base' },
      { header: 'p99 attack' },
      { header: 'max attack' },
      { header: 'calls' },
      { header: 'failed' },
      { header: 'latency' },
      { header: 'refused', align: 'left' },
    ],
    results.map((r) => [
      r.name,
      num(r.attackMs),
      num(r.rssBeforeMiB, 1),
      num(r.rssPeakMiB, 1),
      num(r.growthMiB, 1),
      verdict(r.memoryPass),
      num(r.baseline.p99Ms, 1),
      num(r.during.p99Ms, 1),
      num(r.during.maxMs, 1),
      String(r.during.count),
      String(r.during.failed),
      verdict(r.latencyPass),
      r.outcome.refused === undefined ? '-' : r.outcome.refused ? 'yes' : 'NO',
    ]),
  ),
);
console.log('\nwhat the attacker got:');
for (const r of results) {
  const got =
    Object.entries(r.outcome.got)
      .map(([k, n]) => `${k} x${n}`)
      .join(', ') || '-';
  console.log(`  ${r.name}: ${got}${r.error ? `; ERROR ${r.error}` : ''}`);
  for (const note of r.outcome.notes) console.log(`    ${note}`);
}
for (const f of failed) console.log(`  ${f}`);
await writeResults(values, 'hostile', startedAt, {
  bench: 'hostile',
  startedAt,
  maxGrowthMiB,
  maxP99Ms,
  baselineMs,
  holdMs,
  results,
});
const missed = results.filter((r) => !r.memoryPass || !r.latencyPass).length + failed.length;
console.log(`${results.length + failed.length - missed} of ${results.length + failed.length} attacks within the aims`);
process.exit(values.strict && missed > 0 ? 1 : 0);
