import type { InProcessResult } from './in-process.js';
import type { CellResult } from './interleaved-rounds.js';
import type { ColdResult } from './cold-start.js';
import type { StreamCell } from './stream-runs.js';
import type { StreamInProcess } from './throughput-in-process.js';
import { formatTable, num, type Column } from './table.js';

/** The terminal report of the throughput benchmark (bench/throughput.ts) and its target checks. */

export interface BatchCell extends CellResult {
  /** Items one call carries. */
  items: number;
}

export interface TargetResult {
  name: string;
  goal: string;
  value: number | undefined;
  bound: number;
  pass: boolean | undefined;
  detail: string;
}

const BATCH_COLUMNS: Column[] = [
  { header: 'scenario', align: 'left' },
  { header: 'conc' },
  { header: 'calls/s' },
  { header: 'items/s' },
  { header: 'items ratio' },
  { header: '(range)', align: 'left' },
  { header: 'p50 µs' },
  { header: 'p99 µs' },
  { header: 'srv cpu µs/item' },
  { header: 'other cpu %' },
];

export function batchTable(cells: BatchCell[]): string {
  const rows = cells.map((c) => [
    c.scenario,
    String(c.concurrency),
    num(c.median.opsPerSec),
    num(c.median.opsPerSec * c.items),
    c.ratio ? num(c.ratio.opsPerSec.median * c.items, 2) : '',
    c.ratio ? `${num(c.ratio.opsPerSec.min * c.items, 2)}-${num(c.ratio.opsPerSec.max * c.items, 2)}` : '',
    num(c.median.p50Us),
    num(c.median.p99Us),
    c.median.serverCpuUsPerOp === undefined ? '-' : num(c.median.serverCpuUsPerOp / c.items, 1),
    num(c.median.otherCpuPct, 0),
  ]);
  return formatTable(BATCH_COLUMNS, rows);
}

const STREAM_COLUMNS: Column[] = [
  { header: 'scenario', align: 'left' },
  { header: 'MiB/s' },
  { header: 'ratio to echo' },
  { header: '(range)', align: 'left' },
  { header: 'srv cpu ms/GiB' },
  { header: 'cli cpu ms/GiB' },
  { header: 'other cpu %' },
];

export function streamTable(cells: StreamCell[], inProcess: StreamInProcess[]): string {
  const rows = cells.map((c) => [
    c.scenario,
    num(c.median.mibPerSec),
    c.ratio ? num(c.ratio.median, 2) : '',
    c.ratio ? `${num(c.ratio.min, 2)}-${num(c.ratio.max, 2)}` : '',
    num(c.median.serverCpuMsPerGiB),
    num(c.median.clientCpuMsPerGiB),
    num(c.median.otherCpuPct, 0),
  ]);
  for (const r of inProcess) rows.push([`${r.name} (in-process, 1 thread)`, num(r.mibPerSec), '', '', '', '', '']);
  return formatTable(STREAM_COLUMNS, rows);
}

export function coldTable(r: ColdResult): string {
  const m = r.median;
  const columns: Column[] = [{ header: 'cold start', align: 'left' }, { header: 'value' }];
  const rows = [
    [`burst of ${r.calls} Encrypt on an evicted policy: wall ms`, num(m.coldBurstMs, 1)],
    [`the same burst warm: wall ms`, num(m.warmBurstMs, 1)],
    ['cold minus warm (at most one provider round trip; the burst overlaps it)', num(m.coldBurstMs - m.warmBurstMs, 1)],
    ['cold burst: p50 / max call ms', `${num(m.coldP50Ms, 1)} / ${num(m.coldMaxMs, 1)}`],
    ['provider unwraps per cold burst (single flight: 1)', num(m.unwrapsPerColdBurst)],
    ['cache misses counted in the cold burst', num(m.cacheMissesPerColdBurst)],
    ['one call after an eviction (a cache miss): ms', num(m.singleColdMs, 2)],
    ['one warm call: ms', num(m.singleWarmMs, 2)],
  ];
  return formatTable(columns, rows);
}

export function inProcessBatchLines(r: InProcessResult[]): string[] {
  return r.map(
    (x) => `${x.name} in-process: ${num(x.opsPerSec)} items/s (${num(x.usPerOp, 1)} µs/item), single thread`,
  );
}

/** The targets for the throughput paths. */
export function throughputTargets(batch: BatchCell[], streams: StreamCell[]): TargetResult[] {
  const out: TargetResult[] = [];
  const b64 = batch.filter((c) => c.scenario === 'batch 64 encrypt');
  const unary = batch.filter((c) => c.scenario === 'unary encrypt');
  for (const c of b64) {
    const ratio = c.ratio ? c.ratio.opsPerSec.median * c.items : undefined;
    out.push({
      name: `batch 64 x item vs unary, concurrency ${c.concurrency}`,
      goal: 'items/s of EncryptBatch(64) >= 5 x unary Encrypt at the same concurrency',
      value: ratio,
      bound: 5,
      pass: ratio === undefined ? undefined : ratio >= 5,
      detail: c.ratio
        ? `range ${num(c.ratio.opsPerSec.min * c.items, 2)}-${num(c.ratio.opsPerSec.max * c.items, 2)}`
        : '',
    });
  }
  if (b64.length > 0 && unary.length > 0) {
    const best = (cells: BatchCell[]) => Math.max(...cells.map((c) => c.median.opsPerSec * c.items));
    const ratio = best(b64) / best(unary);
    out.push({
      name: 'batch 64 x item vs unary, each at its best concurrency',
      goal: 'best items/s of EncryptBatch(64) >= 5 x best unary Encrypt items/s',
      value: ratio,
      bound: 5,
      pass: ratio >= 5,
      detail: `${num(best(b64))} vs ${num(best(unary))} items/s`,
    });
  }
  for (const c of streams) {
    if (!c.ratio) continue;
    out.push({
      name: `${c.scenario} vs streaming echo`,
      goal: 'MiB/s >= 0.8 x the streaming echo of the same bytes',
      value: c.ratio.median,
      bound: 0.8,
      pass: c.ratio.median >= 0.8,
      detail: `range ${num(c.ratio.min, 2)}-${num(c.ratio.max, 2)}`,
    });
  }
  return out;
}

export function targetLines(targets: TargetResult[]): string[] {
  return targets.map(
    (t) =>
      `target ${t.pass === undefined ? '----' : t.pass ? 'PASS' : 'MISS'}: ${t.name}: ${num(t.value, 2)} (goal ${t.bound}; ${t.detail})`,
  );
}
