import { SEAL_ECHO_BATCH } from './batch-calls.js';
import type { InProcessResult } from './in-process.js';
import type { CellResult, RatioStat } from './interleaved-rounds.js';
import type { ColdResult } from './cold-start.js';
import { STREAM_FLOOR_OF, type StreamCell } from './stream-runs.js';
import type { StreamInProcess } from './throughput-in-process.js';
import { median, minMax } from './stats.js';
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
  /**
   * The same measure for the crypto floor in the same run (bench/echo.proto SealEcho / OpenEcho: the echo plus
   * the block crypto the format requires, nothing else): the best the target's call could score if all the
   * daemon's other work were free. A floor that misses the bound shows the bound cannot be met by cutting the
   * daemon's own work.
   */
  floor?: number;
  /** Whether the floor alone meets the goal. */
  floorMeets?: boolean;
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

/** Bounds of the throughput targets (bench/README.md, "Throughput"). */
export const BATCH_ECHO_TARGET = 0.85;
export const BATCH_ECHO_CONCURRENCY = 16;
export const STREAM_ECHO_TARGET = 0.95;

/** Per-round ratio of `cell`'s items/s to `echo`'s (same round), or undefined without both. */
function itemsRatioToEcho(cell: BatchCell, echo: BatchCell | undefined): RatioStat | undefined {
  if (!echo) return undefined;
  const perRound: number[] = [];
  for (const r of cell.rounds) {
    const e = echo.rounds.find((x) => x.round === r.round);
    if (e && e.opsPerSec > 0) perRound.push((r.opsPerSec * cell.items) / (e.opsPerSec * echo.items));
  }
  if (perRound.length === 0) return undefined;
  return { perRound, median: median(perRound), ...minMax(perRound) };
}

/**
 * The targets of the throughput paths: EncryptBatch of 64 items against a unary Echo of the same bytes (items/s,
 * within each round, at concurrency 16), each stream against the streaming echo (MiB/s, within each round); and
 * the batch against unary Encrypt calls of one item (items/s).
 */
export function throughputTargets(batch: BatchCell[], streams: StreamCell[]): TargetResult[] {
  const out: TargetResult[] = [];
  const b64 = batch.filter((c) => c.scenario === 'batch 64 encrypt');
  const unary = batch.filter((c) => c.scenario === 'unary encrypt');
  for (const c of b64) {
    const echo = batch.find((e) => e.scenario.startsWith('echo 64x') && e.concurrency === c.concurrency);
    if (c.concurrency !== BATCH_ECHO_CONCURRENCY) continue;
    const r = itemsRatioToEcho(c, echo);
    const floorCell = batch.find(
      (e) => e.scenario.startsWith(`${SEAL_ECHO_BATCH} 64x`) && e.concurrency === c.concurrency,
    );
    const floor = floorCell ? itemsRatioToEcho(floorCell, echo)?.median : undefined;
    out.push({
      name: `EncryptBatch 64 x item vs an Echo of the same bytes, concurrency ${c.concurrency}`,
      goal: `items/s of EncryptBatch(64) >= ${BATCH_ECHO_TARGET} x the items/s of a unary Echo of one such batch`,
      value: r?.median,
      bound: BATCH_ECHO_TARGET,
      pass: r === undefined ? undefined : r.median >= BATCH_ECHO_TARGET,
      detail: r
        ? `range ${num(r.min, 2)}-${num(r.max, 2)}; ${num(c.median.opsPerSec * c.items)} vs ${num(echo!.median.opsPerSec * echo!.items)} items/s`
        : 'no echo baseline (--target without --echo-target, or no 64-item batch)',
      ...(floor === undefined ? {} : { floor, floorMeets: floor >= BATCH_ECHO_TARGET }),
    });
  }
  if (batch.length > 0 && !b64.some((c) => c.concurrency === BATCH_ECHO_CONCURRENCY))
    out.push({
      name: `EncryptBatch 64 x item vs an Echo of the same bytes, concurrency ${BATCH_ECHO_CONCURRENCY}`,
      goal: `items/s of EncryptBatch(64) >= ${BATCH_ECHO_TARGET} x the items/s of a unary Echo of one such batch`,
      value: undefined,
      bound: BATCH_ECHO_TARGET,
      pass: undefined,
      detail: `not measured (needs --concurrency ${BATCH_ECHO_CONCURRENCY} and 64 in --batch-sizes)`,
    });
  for (const c of streams) {
    const floorScenario = STREAM_FLOOR_OF[c.scenario];
    if (floorScenario === undefined) continue; // the echo and the floors themselves
    const floor = streams.find((f) => f.scenario === floorScenario)?.ratio?.median;
    out.push({
      name: `${c.scenario} vs streaming echo`,
      goal: `MiB/s >= ${STREAM_ECHO_TARGET} x the streaming echo of the same bytes`,
      value: c.ratio?.median,
      bound: STREAM_ECHO_TARGET,
      pass: c.ratio ? c.ratio.median >= STREAM_ECHO_TARGET : undefined,
      detail: c.ratio ? `range ${num(c.ratio.min, 2)}-${num(c.ratio.max, 2)}` : 'no echo baseline',
      ...(floor === undefined ? {} : { floor, floorMeets: floor >= STREAM_ECHO_TARGET }),
    });
  }
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
  return out;
}

/** `; crypto floor X (it alone misses/meets the bound)` for a target with a floor, else nothing. */
export function floorText(t: TargetResult): string {
  if (t.floor === undefined) return '';
  return `; crypto floor ${num(t.floor, 2)}, which alone ${t.floorMeets ? 'meets' : 'misses'} the goal`;
}

export function targetLines(targets: TargetResult[]): string[] {
  return targets.map(
    (t) =>
      `target ${t.pass === undefined ? '----' : t.pass ? 'PASS' : 'MISS'}: ${t.name}: ${num(t.value, 2)} (goal ${t.bound}; ${t.detail}${floorText(t)})`,
  );
}
