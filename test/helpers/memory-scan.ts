import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

/**
 * Counts the copies of secret byte strings in another process's memory, through /proc/<pid>/maps and
 * /proc/<pid>/mem (Linux; needs ptrace rights on the target: root, or the same user with ptrace_scope 0).
 *
 * Only private writable mappings are read (`rw?p`: the heap, anonymous memory, thread stacks, libraries'
 * data): that is where a process keeps what it computed. Read-only and shared mappings (code, files, shared
 * memory) are skipped. The target is stopped (SIGSTOP) for the scan so that what is counted is one
 * consistent picture, and continued afterwards whatever happens.
 */

export interface ScanResult {
  /** Per needle: how many times it occurs (whole). */
  counts: number[];
  /** Per needle: how many times its first or second half occurs (a key schedule keeps the key in 16-byte rounds). */
  halfCounts: number[];
  bytesRead: number;
  regions: number;
  /** Where whole copies were found (the first few): needle index, address, mapping name, 16 bytes either side. */
  found: Array<{ needle: number; address: string; mapping: string; around: string }>;
}

export interface ScanOptions {
  /** Stop after reading this many bytes (default 2 GiB); `truncated` regions are then not read. */
  maxBytes?: number;
  /** Size of one read (default 4 MiB). */
  chunkBytes?: number;
  /** Send SIGSTOP for the duration of the scan (default true). */
  stop?: boolean;
}

interface Region {
  start: number;
  end: number;
  name: string;
}

/** The private writable regions of `pid`. */
export function writableRegions(pid: number): Region[] {
  const regions: Region[] = [];
  for (const line of readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (r)(w)(-|x)(p) [0-9a-f]+ \S+ \d+\s*(.*)$/.exec(line);
    if (!m) continue;
    const name = m[7] ?? '';
    if (name === '[vvar]' || name === '[vsyscall]' || name === '[vdso]') continue;
    regions.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), name: name || '[anon]' });
  }
  return regions;
}

/**
 * Scans `pid` for every needle (each at least 16 bytes). Chunks overlap by (longest needle - 1) bytes, and
 * a match is counted in the chunk where it starts, so nothing is counted twice or missed at a boundary.
 */
export function scanProcess(pid: number, needles: Buffer[], opts: ScanOptions = {}): ScanResult {
  const maxBytes = opts.maxBytes ?? 2 ** 31;
  const chunkBytes = opts.chunkBytes ?? 4 * 2 ** 20;
  const halves = needles.map((n) => [n.subarray(0, n.length >> 1), n.subarray(n.length >> 1)] as const);
  const overlap = Math.max(...needles.map((n) => n.length)) - 1;
  const counts = needles.map(() => 0);
  const halfCounts = needles.map(() => 0);
  const buf = Buffer.allocUnsafeSlow(chunkBytes + overlap);
  let bytesRead = 0;
  let regions = 0;
  const found: ScanResult['found'] = [];
  const stop = opts.stop ?? true;
  if (stop) {
    process.kill(pid, 'SIGSTOP');
    waitUntilStopped(pid);
  }
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const r of writableRegions(pid)) {
      if (bytesRead >= maxBytes) break;
      regions++;
      // pos: where the next chunk starts; each chunk also reads `overlap` bytes past its end.
      for (let pos = r.start; pos < r.end && bytesRead < maxBytes; pos += chunkBytes) {
        const want = Math.min(chunkBytes + overlap, r.end - pos);
        let got: number;
        try {
          got = readSync(fd, buf, 0, want, pos);
        } catch {
          break; // an unreadable region (guard pages, a mapping gone): skip the rest of it
        }
        if (got <= 0) break;
        bytesRead += Math.min(got, chunkBytes);
        const own = Math.min(got, chunkBytes); // matches starting in [0, own) belong to this chunk
        const hay = buf.subarray(0, got);
        for (let k = 0; k < needles.length; k++) {
          const whole = countStarting(hay, needles[k]!, own);
          counts[k]! += whole;
          if (whole > 0 && found.length < 16) {
            for (let i = hay.indexOf(needles[k]!); i !== -1 && i < own; i = hay.indexOf(needles[k]!, i + 1)) {
              const around = `${hay.subarray(Math.max(0, i - 16), i).toString('hex')}|key|${hay.subarray(i + needles[k]!.length, i + needles[k]!.length + 16).toString('hex')}`;
              found.push({ needle: k, address: `0x${(pos + i).toString(16)}`, mapping: r.name, around });
            }
          }
          for (const [h, half] of halves[k]!.entries()) {
            const n = countStarting(hay, half, own);
            halfCounts[k]! += n;
            if (n > whole && found.length < 16) {
              for (let i = hay.indexOf(half); i !== -1 && i < own; i = hay.indexOf(half, i + 1)) {
                const around = `${hay.subarray(Math.max(0, i - 32), i).toString('hex')}|half ${h + 1}|${hay.subarray(i + half.length, i + half.length + 32).toString('hex')}`;
                found.push({ needle: k, address: `0x${(pos + i).toString(16)}`, mapping: r.name, around });
              }
            }
          }
        }
      }
    }
  } finally {
    closeSync(fd);
    if (stop) process.kill(pid, 'SIGCONT');
  }
  return { counts, halfCounts, bytesRead, regions, found };
}

/** SIGSTOP is delivered asynchronously: wait (at most 2 s) until every thread of `pid` reports state T. */
function waitUntilStopped(pid: number): void {
  const until = performance.now() + 2_000;
  const stopped = () => {
    try {
      return readdirSync(`/proc/${pid}/task`).every((tid) =>
        /^\d+ \(.*\) T /s.test(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1')),
      );
    } catch {
      return false; // a thread that ended between the listing and the read: look again
    }
  };
  while (!stopped() && performance.now() < until) {
    // spin: a stop takes microseconds to a few milliseconds
  }
}

function countStarting(hay: Buffer, needle: Buffer, own: number): number {
  let n = 0;
  let i = hay.indexOf(needle, 0);
  while (i !== -1 && i < own) {
    n++;
    i = hay.indexOf(needle, i + 1);
  }
  return n;
}
