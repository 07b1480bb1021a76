import { mib, slopeMiBPerMinute, type Point } from './proc-memory.js';
import { CHURN_KINDS, LOAD_KINDS, type SoakStats } from './soak-load.js';
import { summarizeNs } from './stats.js';
import { formatTable, num } from './table.js';

/** The soak's printed report: operations by kind, errors, memory trend; and the verdict. */

export interface MemorySamples {
  /** RSS of the daemon process (/proc), every sample. */
  rss: Point[];
  /** V8 heap used after a full GC in the daemon (its IPC stats), every heap sample. */
  heap: Point[];
}

export interface SoakVerdict {
  unexpectedErrors: number;
  rssSlope: number;
  heapSlope: number;
  pass: boolean;
  lines: string[];
}

export function opsTable(stats: SoakStats, elapsedMs: number): string {
  const rows: string[][] = [];
  for (const kind of [...LOAD_KINDS, ...CHURN_KINDS]) {
    const s = stats.kinds.get(kind);
    if (!s) continue;
    const lat = summarizeNs(s.latency.samples());
    const expected = [...s.expected.values()].reduce((a, b) => a + b, 0);
    const unexpected = [...s.unexpected.values()].reduce((a, b) => a + b, 0);
    const total = s.ok + expected + unexpected;
    rows.push([
      kind,
      String(total),
      num(total / (elapsedMs / 1000), 1),
      String(s.ok),
      num(lat.p50Us / 1000, 2),
      num(lat.p99Us / 1000, 2),
      num(lat.maxUs / 1000, 1),
      String(expected),
      String(unexpected),
    ]);
  }
  return formatTable(
    [
      { header: 'kind', align: 'left' },
      { header: 'ops' },
      { header: 'ops/s' },
      { header: 'ok' },
      { header: 'p50 ms' },
      { header: 'p99 ms' },
      { header: 'max ms' },
      { header: 'expected err' },
      { header: 'unexpected err' },
    ],
    rows,
  );
}

export function errorLines(stats: SoakStats): string[] {
  const lines: string[] = [];
  for (const [kind, s] of stats.kinds) {
    for (const [code, n] of s.expected) lines.push(`  expected    ${kind} ${code}: ${n}`);
    for (const [code, n] of s.unexpected)
      lines.push(`  UNEXPECTED  ${kind} ${code}: ${n} (first: ${s.firstUnexpected.get(code) ?? '?'})`);
  }
  return lines;
}

/** Samples after the warm-up, and a line describing them. */
function trend(name: string, points: readonly Point[], warmupS: number): { slope: number; line: string } {
  const after = points.filter((p) => p.t >= warmupS);
  const slope = slopeMiBPerMinute(after);
  if (after.length === 0) return { slope, line: `${name}: no samples after the warm-up` };
  const values = after.map((p) => mib(p.bytes));
  return {
    slope,
    line:
      `${name}: ${num(mib(points[0]!.bytes), 1)} MiB at start, ${num(values[0]!, 1)} after warm-up, ${num(values.at(-1)!, 1)} at end ` +
      `(min ${num(Math.min(...values), 1)}, max ${num(Math.max(...values), 1)}); slope after warm-up ${num(slope, 3)} MiB/min over ${after.length} samples`,
  };
}

export function verdict(stats: SoakStats, memory: MemorySamples, warmupS: number, maxSlope: number): SoakVerdict {
  const rss = trend('daemon RSS', memory.rss, warmupS);
  const heap = trend('daemon heap used after GC', memory.heap, warmupS);
  const unexpectedErrors = stats.unexpectedTotal();
  const slopesOk = !(rss.slope > maxSlope) && !(heap.slope > maxSlope);
  const lines = [
    rss.line,
    heap.line,
    `unexpected errors: ${unexpectedErrors} -> ${unexpectedErrors === 0 ? 'PASS' : 'FAIL'}`,
    `memory slope (RSS ${num(rss.slope, 3)}, heap ${num(heap.slope, 3)} MiB/min) <= ${maxSlope} MiB/min -> ${slopesOk ? 'PASS' : 'FAIL'}`,
  ];
  return {
    unexpectedErrors,
    rssSlope: rss.slope,
    heapSlope: heap.slope,
    pass: unexpectedErrors === 0 && slopesOk,
    lines,
  };
}
