import type { InProcessResult } from './in-process.js';
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

export interface TargetCheck {
  payloadBytes: number;
  ratio: number;
  p50Ratio: number | undefined;
  range: { min: number; max: number } | undefined;
  pass: boolean | undefined;
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
 * Issue 9: what a 1,000-identity authorization table adds to Encrypt's p50 (target: at most 5 µs), as the
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

/** The target: cache-hit Encrypt p50 at most `ratio` times the echo's, at concurrency 1. */
export function targetCheck(p: PayloadResult, ratio: number): TargetCheck | undefined {
  const cell = p.cells.find((c) => c.scenario === 'encrypt' && c.concurrency === 1);
  if (!cell) return undefined;
  if (!cell.ratio)
    return { payloadBytes: p.payloadBytes, ratio, p50Ratio: undefined, range: undefined, pass: undefined };
  const p50Ratio = cell.ratio.p50.median;
  return {
    payloadBytes: p.payloadBytes,
    ratio,
    p50Ratio,
    range: { min: cell.ratio.p50.min, max: cell.ratio.p50.max },
    pass: p50Ratio <= ratio,
  };
}

export function targetLine(t: TargetCheck): string {
  const head = `target: encrypt p50 <= ${num(t.ratio, 2)} x echo (conc 1, ${t.payloadBytes} B):`;
  if (t.pass === undefined || t.p50Ratio === undefined) return `${head} n/a (no echo baseline in this run)`;
  return `${head} ${t.pass ? 'PASS' : 'MISS'} (median ${num(t.p50Ratio, 3)}, rounds ${num(t.range!.min, 3)}-${num(t.range!.max, 3)})`;
}
