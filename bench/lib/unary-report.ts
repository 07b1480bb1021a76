import { RAW_GCM, SEAL_BLOCK, type InProcessResult } from './in-process.js';
import { FLOOR_OF } from './options.js';
import type { TargetResult } from './throughput-report.js';
import type { CellResult } from './interleaved-rounds.js';
import { formatTable, num, type Column } from './table.js';

/** The terminal report of the unary benchmark. */

export interface PayloadResult {
  payloadBytes: number;
  cells: CellResult[];
  /** Cache misses during the measured runs (0 = all cache hits); undefined if the admin API was not reachable. */
  cacheMissesDuringRuns: number | undefined;
  inProcess: InProcessResult[];
}

const COLUMNS: Column[] = [
  { header: 'scenario', align: 'left' },
  { header: 'conc' },
  { header: 'p50 µs' },
  { header: 'p99 µs' },
  { header: 'p99.9 µs' },
  { header: 'ops/s' },
  { header: 'p50 ratio' },
  { header: '(range)', align: 'left' },
  { header: 'ops ratio' },
  { header: 'srv cpu µs/op' },
  { header: 'cli cpu µs/op' },
  { header: 'other cpu %' },
];

export function payloadTable(p: PayloadResult): string {
  const rows = p.cells.map((c) => [
    c.scenario,
    String(c.concurrency),
    num(c.median.p50Us),
    num(c.median.p99Us),
    num(c.median.p999Us),
    num(c.median.opsPerSec),
    c.ratio ? num(c.ratio.p50.median, 2) : '',
    c.ratio ? `${num(c.ratio.p50.min, 2)}-${num(c.ratio.p50.max, 2)}` : '',
    c.ratio ? num(c.ratio.opsPerSec.median, 2) : '',
    num(c.median.serverCpuUsPerOp, 1),
    num(c.median.clientCpuUsPerOp, 1),
    num(c.median.otherCpuPct, 0),
  ]);
  return formatTable(COLUMNS, rows);
}

/** Above this share of the machine taken by other processes, a run's ratios are not to be trusted. */
export const NOISY_OTHER_CPU_PCT = 10;

export function noiseLines(p: PayloadResult): string[] {
  const lines: string[] = [];
  // Every scenario of a round is discarded together: count each concurrency's rounds once.
  const byConcurrency = new Map(p.cells.map((c) => [c.concurrency, c.discardedRounds.length]));
  const discarded = [...byConcurrency.values()].reduce((a, b) => a + b, 0);
  if (discarded > 0)
    lines.push(`re-measured ${discarded} noisy round${discarded === 1 ? '' : 's'} (other cpu over --max-other-cpu)`);
  const noisy = p.cells.filter((c) => (c.median.otherCpuPct ?? 0) > NOISY_OTHER_CPU_PCT);
  if (noisy.length > 0) {
    const worst = Math.max(...noisy.map((c) => c.median.otherCpuPct!));
    lines.push(
      `warning: other processes used up to ${worst.toFixed(0)}% of the machine during ${noisy.length} of ${p.cells.length} rows: ` +
        'latencies and ratios there are not trustworthy (srv cpu µs/op holds up better); rerun on a quiet machine or with --max-other-cpu',
    );
  }
  return lines;
}

export function inProcessLines(results: InProcessResult[]): string[] {
  return results.map(
    (r) => `${r.name} in-process: ${num(r.opsPerSec)} ops/s (${num(r.usPerOp, 1)} µs/op), single thread`,
  );
}

/**
 * What a 1,000-identity authorization table adds to Encrypt's p50 (target: at most 5 µs), as the
 * median across rounds of the per-round difference to the daemon without a table, per concurrency.
 */
export function tableLines(p: PayloadResult): string[] {
  const lines: string[] = [];
  for (const cell of p.cells.filter((c) => c.scenario === 'encrypt-1k-table')) {
    const plain = p.cells.find((c) => c.scenario === 'encrypt' && c.concurrency === cell.concurrency);
    if (!plain) continue;
    const diffs = cell.rounds
      .map((r) => r.p50Us - (plain.rounds.find((b) => b.round === r.round)?.p50Us ?? Number.NaN))
      .filter((d) => Number.isFinite(d))
      .sort((a, b) => a - b);
    if (diffs.length === 0) continue;
    const med = diffs[Math.floor(diffs.length / 2)]!;
    lines.push(
      `authorization table (1,000 identities), conc ${cell.concurrency}: encrypt p50 ${med >= 0 ? '+' : ''}${num(med, 1)} µs vs no table ` +
        `(rounds ${num(diffs[0]!, 1)} to ${num(diffs.at(-1)!, 1)}; target <= 5 µs at conc 1)`,
    );
  }
  return lines;
}

/** The unary speed targets' bounds: p50 over the echo's at concurrency 1, ops/s over the echo's at 64, sealBlock. */
export const UNARY_BOUNDS = { p50Ratio: 1.1, opsRatio: 0.95, sealRatio: 2.0 } as const;

/**
 * The unary speed targets of one payload size, each PASS or MISS: cache-hit Encrypt and Decrypt p50 at most
 * `p50Bound` x the echo's at concurrency 1; their ops/s at least 0.95 x the echo's at concurrency 64; and
 * sealBlock in-process at most 2.0 x raw AES-256-GCM of the same block. A target whose cell did not run is left
 * out; one without an echo baseline is listed with no verdict.
 */
export function unaryTargets(p: PayloadResult, p50Bound: number = UNARY_BOUNDS.p50Ratio): TargetResult[] {
  const size = sizeName(p.payloadBytes);
  const out: TargetResult[] = [];
  const cell = (scenario: string, conc: number) =>
    p.cells.find((c) => c.scenario === scenario && c.concurrency === conc);
  for (const scenario of ['encrypt', 'decrypt'] as const) {
    const method = scenario === 'encrypt' ? 'Encrypt' : 'Decrypt';
    const floorScenario = FLOOR_OF[scenario]!;
    const c1 = cell(scenario, 1);
    if (c1) {
      const r = c1.ratio?.p50;
      const floor = cell(floorScenario, 1)?.ratio?.p50.median;
      out.push({
        name: `unary ${size} ${method} p50 vs echo, concurrency 1`,
        goal: `at most ${num(p50Bound, 2)} x the echo p50`,
        value: r?.median,
        bound: p50Bound,
        pass: r ? r.median <= p50Bound : undefined,
        detail: r ? `rounds ${num(r.min, 2)}-${num(r.max, 2)}` : 'no echo baseline',
        ...(floor === undefined ? {} : { floor, floorMeets: floor <= p50Bound }),
      });
    }
    const c64 = cell(scenario, 64);
    if (c64) {
      const r = c64.ratio?.opsPerSec;
      const floor = cell(floorScenario, 64)?.ratio?.opsPerSec.median;
      out.push({
        name: `unary ${size} ${method} ops/s vs echo, concurrency 64`,
        goal: `at least ${num(UNARY_BOUNDS.opsRatio, 2)} x the echo ops/s`,
        value: r?.median,
        bound: UNARY_BOUNDS.opsRatio,
        pass: r ? r.median >= UNARY_BOUNDS.opsRatio : undefined,
        detail: r ? `rounds ${num(r.min, 2)}-${num(r.max, 2)}` : 'no echo baseline',
        ...(floor === undefined ? {} : { floor, floorMeets: floor >= UNARY_BOUNDS.opsRatio }),
      });
    }
  }
  const raw = p.inProcess.find((r) => r.name === RAW_GCM);
  const seal = p.inProcess.find((r) => r.name === SEAL_BLOCK);
  if (raw && seal) {
    const ratio = seal.usPerOp / raw.usPerOp;
    out.push({
      name: `sealBlock ${size} in-process vs raw AES-256-GCM`,
      goal: `at most ${num(UNARY_BOUNDS.sealRatio, 1)} x raw AES-256-GCM of the block`,
      value: ratio,
      bound: UNARY_BOUNDS.sealRatio,
      pass: ratio <= UNARY_BOUNDS.sealRatio,
      detail: `${num(seal.usPerOp, 1)} vs ${num(raw.usPerOp, 1)} µs`,
    });
  }
  return out;
}

function sizeName(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}
