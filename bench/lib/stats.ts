/**
 * Summary statistics of latency samples. Percentiles use the nearest-rank method on a sorted copy, so a
 * reported p99 is a latency some call actually had (no interpolation between samples).
 */

export interface LatencySummary {
  /** Calls that completed successfully and were timed. */
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** Nearest-rank percentile (`q` in [0, 1]) of ascending-sorted samples; NaN when there are none. */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.ceil(q * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!;
}

/** Summarizes latencies given in nanoseconds; the summary is in microseconds. */
export function summarizeNs(samplesNs: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samplesNs).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  const us = (ns: number) => ns / 1000;
  const n = sorted.length;
  return {
    count: n,
    minUs: n ? us(sorted[0]!) : Number.NaN,
    meanUs: n ? us(sum / n) : Number.NaN,
    p50Us: us(percentileOfSorted(sorted, 0.5)),
    p90Us: us(percentileOfSorted(sorted, 0.9)),
    p99Us: us(percentileOfSorted(sorted, 0.99)),
    p999Us: us(percentileOfSorted(sorted, 0.999)),
    maxUs: n ? us(sorted[n - 1]!) : Number.NaN,
  };
}

/** Median of a list (mean of the middle two for an even count); NaN when empty. NaNs are ignored. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function minMax(values: readonly number[]): { min: number; max: number } {
  const v = values.filter((x) => !Number.isNaN(x));
  return v.length ? { min: Math.min(...v), max: Math.max(...v) } : { min: Number.NaN, max: Number.NaN };
}
