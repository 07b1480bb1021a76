import type { CellResult } from './interleaved-rounds.js';
import { TELEMETRY_PAIRS } from './options.js';
import { median } from './stats.js';
import { num } from './table.js';

/**
 * The cost of telemetry: each *-otel scenario (a daemon with metrics on and traces at the default sampling
 * ratio) against the same calls on the daemon with telemetry off, as ratios taken within each round (the
 * two ran back to back), then their median. The bound: p50 at most 1.05 x, ops/s at least 0.95 x.
 */
export interface TelemetryCost {
  scenario: string;
  baseline: string;
  concurrency: number;
  p50Ratio: number;
  opsRatio: number;
  p50PerRound: number[];
  opsPerRound: number[];
  pass: boolean;
}

export const TELEMETRY_BOUND = 0.05;

export function telemetryCosts(cells: readonly CellResult[]): TelemetryCost[] {
  const out: TelemetryCost[] = [];
  for (const [scenario, baseline] of TELEMETRY_PAIRS) {
    for (const on of cells.filter((c) => c.scenario === scenario)) {
      const off = cells.find((c) => c.scenario === baseline && c.concurrency === on.concurrency);
      if (!off) continue;
      const pairs = on.rounds
        .map((r) => [r, off.rounds.find((b) => b.round === r.round)] as const)
        .filter((p): p is readonly [(typeof p)[0], NonNullable<(typeof p)[1]>] => p[1] !== undefined);
      if (pairs.length === 0) continue;
      const p50PerRound = pairs.map(([r, b]) => r.p50Us / b.p50Us);
      const opsPerRound = pairs.map(([r, b]) => r.opsPerSec / b.opsPerSec);
      const p50Ratio = median(p50PerRound);
      const opsRatio = median(opsPerRound);
      out.push({
        scenario,
        baseline,
        concurrency: on.concurrency,
        p50Ratio,
        opsRatio,
        p50PerRound,
        opsPerRound,
        pass: p50Ratio <= 1 + TELEMETRY_BOUND && opsRatio >= 1 - TELEMETRY_BOUND,
      });
    }
  }
  return out;
}

export function telemetryLines(costs: readonly TelemetryCost[]): string[] {
  const range = (xs: number[]) => `${num(Math.min(...xs), 3)}-${num(Math.max(...xs), 3)}`;
  return costs.map(
    (c) =>
      `telemetry cost, ${c.scenario} vs ${c.baseline}, conc ${c.concurrency}: p50 x${num(c.p50Ratio, 3)} ` +
      `(rounds ${range(c.p50PerRound)}), ops/s x${num(c.opsRatio, 3)} (rounds ${range(c.opsPerRound)})` +
      (c.concurrency === 64
        ? `; bound p50 <= x${num(1 + TELEMETRY_BOUND, 2)} and ops/s >= x${num(1 - TELEMETRY_BOUND, 2)}: ${c.pass ? 'PASS' : 'MISS'}`
        : ''),
  );
}
