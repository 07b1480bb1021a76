import { open, stat } from 'node:fs/promises';

/**
 * The file system as the file trail's reader sees it: a stat and positioned reads, nothing else. Injected so
 * that what a query costs (the bytes it reads) can be counted; `nodeTrailFile` is the real one, and counts
 * into `trailFileCounters` (every file trail of the process together).
 */
export interface TrailFile {
  /** The file's size and identity, or undefined when there is none. */
  stat(path: string): Promise<TrailFileStat | undefined>;
  /** Opens the file for reading, or undefined when there is none. */
  open(path: string): Promise<TrailFileHandle | undefined>;
}

export interface TrailFileStat {
  size: number;
  /** Device and inode: a different value means another file now has the name (replaced, not appended to). */
  identity: string;
}

export interface TrailFileHandle {
  /** The open file's own size and identity (what was opened, whatever has the name now). */
  stat(): Promise<TrailFileStat>;
  /** Up to `length` bytes from `position` (fewer at the end of the file). */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** Stats and reads of the file trail by `nodeTrailFile`, since the process started. */
export const trailFileCounters = { stats: 0, reads: 0, bytesRead: 0 };

const statOf = (s: { size: number; dev: number; ino: number }): TrailFileStat => ({
  size: s.size,
  identity: `${s.dev}:${s.ino}`,
});

const missing = (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err));

export const nodeTrailFile: TrailFile = {
  async stat(path) {
    trailFileCounters.stats++;
    const s = await stat(path).catch(missing);
    return s && statOf(s);
  },
  async open(path) {
    const fh = await open(path, 'r').catch(missing);
    if (!fh) return undefined;
    return {
      async stat() {
        trailFileCounters.stats++;
        return statOf(await fh.stat());
      },
      async read(position, length) {
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await fh.read(buf, 0, length, position);
        trailFileCounters.reads++;
        trailFileCounters.bytesRead += bytesRead;
        return buf.subarray(0, bytesRead);
      },
      close: () => fh.close(),
    };
  },
};

/**
 * Calls `onLine` with each complete line (without its newline, empty ones skipped) between byte `from` and
 * byte `to`, and its offset, reading `chunk` bytes at a time, until `onLine` returns true. Resolves with the
 * offset just past the last complete line read (a torn line at `to` is left for later).
 */
export async function forEachLine(
  fh: TrailFileHandle,
  from: number,
  to: number,
  chunk: number,
  onLine: (line: Buffer, offset: number) => boolean | void,
): Promise<number> {
  let lineStart = from;
  let parts: Buffer[] = [];
  for (let pos = from; pos < to;) {
    const buf = await fh.read(pos, Math.min(chunk, to - pos));
    if (buf.length === 0) break; // the file is shorter than it was
    let at = 0;
    for (;;) {
      const nl = buf.indexOf(10, at);
      if (nl < 0) {
        parts.push(buf.subarray(at));
        break;
      }
      parts.push(buf.subarray(at, nl));
      const line = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      parts = [];
      const offset = lineStart;
      lineStart = pos + nl + 1;
      at = nl + 1;
      if (line.length > 0 && onLine(line, offset) === true) return lineStart;
    }
    pos += buf.length;
  }
  return lineStart;
}
