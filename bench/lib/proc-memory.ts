import { readFileSync } from 'node:fs';

/**
 * Another process's memory as the kernel sees it, and the trend of a series of samples: what the soak and
 * the hostile-input benchmarks watch in the daemon process (Linux only: /proc).
 */

const MiB = 1024 * 1024;

/** Resident set size of process `pid` in bytes (VmRSS of /proc/<pid>/status); undefined if unreadable. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function mib(bytes: number): number {
  return bytes / MiB;
}

export interface Point {
  /** Seconds since the start of the run. */
  t: number;
  bytes: number;
}

/**
 * Least-squares slope of `points` in MiB per minute (NaN with fewer than three points or no spread in
 * time). A leak shows as a slope that stays positive however long the run; a working set that settles
 * shows as a slope near 0 once the warm-up is excluded.
 */
export function slopeMiBPerMinute(points: readonly Point[]): number {
  const n = points.length;
  if (n < 3) return Number.NaN;
  let st = 0;
  let sy = 0;
  for (const p of points) {
    st += p.t;
    sy += p.bytes;
  }
  const mt = st / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.bytes - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? Number.NaN : (num / den / MiB) * 60;
}
