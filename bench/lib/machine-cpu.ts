import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * CPU time the whole machine spent busy (all processes, all cores), from /proc/stat; undefined where there
 * is no /proc (not Linux). Subtracting the bench's and the server's own CPU time from it over a run gives
 * what other processes took: on a 2-core machine, the first thing to check when numbers look odd.
 * Resolution is one clock tick (10 ms) per core.
 */
const USER_HZ = 100;

export function machineBusyUs(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return undefined;
  }
  const line = text.slice(0, text.indexOf('\n'));
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return (busy * 1e6) / USER_HZ;
}

export const CPU_COUNT = cpus().length;
