import { forEachLine, type TrailFile, type TrailFileStat } from './trail-file.js';

/**
 * Where each record of the file trail starts, kept in memory so that a page starting at sequence S is read
 * from S's neighbourhood instead of from byte 0. Built by one scan of the file, then
 * extended by reading only the bytes past what it has indexed (`refresh`: after each append of this process,
 * before each query, and when a follower is waiting: records another process appended to the same file are
 * indexed the same way). A file that shrank or was replaced under its name is indexed again from byte 0, as is
 * one whose bytes past the indexed end do not start the next record (rewritten in place). `identity` says which
 * file the offsets belong to: a reader opens the file first and uses them only for that file.
 *
 * Built by the first query (`refresh`), not when the trail opens: until then `poll` only stats the file.
 *
 * Bounded whatever the log's size: at most `maxCheckpoints` sparse entries (the offset of every `stride`-th
 * line; when full, every other one is dropped and the stride doubles) plus the exact offsets of the newest
 * `tail` to 2 x `tail` lines (where followers read). So a page starts at most `stride - 1` records before its
 * first record, and exactly at it among the newest records. The offsets assume what the chain guarantees,
 * sequence numbers increasing along the file; a file where they do not (damaged: `audit verify` names where)
 * is read from byte 0, as if there were no index.
 */
export const INDEX_STRIDE = 64;
export const INDEX_MAX_CHECKPOINTS = 16_384;
export const INDEX_TAIL = 1_024;
/** Bytes per read when indexing. */
const SCAN_CHUNK = 256 * 1024;

export interface IndexBounds {
  stride?: number;
  maxCheckpoints?: number;
  tail?: number;
}

export class FileTrailIndex {
  readonly #path: string;
  readonly #file: TrailFile;
  readonly #maxCheckpoints: number;
  readonly #tail: number;
  #stride: number;
  #identity: string | undefined;
  #end = 0;
  /** The size read up to: past `#end` when the file ends in a torn line (not read again until it grows). */
  #seen = 0;
  #lines = 0;
  #lastSeq = 0;
  #ordered = true;
  #cpSeq: number[] = [];
  #cpOffset: number[] = [];
  #tailSeq: number[] = [];
  #tailOffset: number[] = [];
  #version = 0;
  #built = false;
  /** Before the build: whether the file was looked at, and what `poll` saw. */
  #looked = false;
  #observed: TrailFileStat | undefined;
  #last: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;

  constructor(path: string, file: TrailFile, bounds: IndexBounds = {}) {
    this.#path = path;
    this.#file = file;
    this.#stride = bounds.stride ?? INDEX_STRIDE;
    this.#maxCheckpoints = Math.max(2, bounds.maxCheckpoints ?? INDEX_MAX_CHECKPOINTS) & ~1; // even: halving keeps 0
    this.#tail = Math.max(1, bounds.tail ?? INDEX_TAIL);
  }

  /** Changes whenever lines were indexed (or the index was started again): new records to announce. */
  get version(): number {
    return this.#version;
  }

  /** The offset just past the last complete line indexed. */
  get end(): number {
    return this.#end;
  }

  /** The current stride (lines between two sparse entries). */
  get stride(): number {
    return this.#stride;
  }

  /** Offsets held: sparse entries plus the newest lines' exact ones. */
  get entries(): number {
    return this.#cpSeq.length + this.#tailSeq.length;
  }

  /** Whether the index was built (by the first `refresh`: the first query). */
  get built(): boolean {
    return this.#built;
  }

  /**
   * For the watch and after an append: before the index is built (nothing queried it yet), one stat of the
   * name, the version moving when the file's size or identity changed since the last look (nothing is read:
   * opening the trail does not scan the file); once built, a `refresh`.
   */
  async poll(): Promise<void> {
    if (this.#built) return this.refresh();
    const s = await this.#file.stat(this.#path);
    if (this.#built) return;
    if (this.#looked && (s?.size !== this.#observed?.size || s?.identity !== this.#observed?.identity)) this.#version++;
    this.#observed = s;
    this.#looked = true;
  }

  /**
   * Indexes what was appended since the last refresh (a stat; a read of the new bytes only when the file
   * grew). Calls made while one runs share the next run, so followers woken together cost one stat.
   */
  refresh(): Promise<void> {
    if (this.#queued) return this.#queued;
    const run = this.#last
      .catch(() => {})
      .then(() => {
        this.#queued = undefined;
        return this.#catchUp();
      });
    this.#queued = run;
    this.#last = run;
    return run;
  }

  /**
   * The bytes to read for the records from sequence `fromSeq` on: [from, to), to being the indexed end, and
   * the sequence number of the line starting at `from` when the index holds one (a reader checks it: bytes
   * rewritten in place under the same identity and size cannot be seen otherwise).
   */
  span(fromSeq: number): { from: number; to: number; seq?: number } {
    const to = this.#end;
    if (!this.#ordered) return { from: 0, to };
    if (fromSeq > this.#lastSeq) return { from: to, to };
    const tail = this.#tailSeq;
    if (tail.length > 0 && tail[0]! <= fromSeq) {
      const i = lowerBound(tail, fromSeq);
      return { from: this.#tailOffset[i]!, to, seq: tail[i]! };
    }
    const i = lowerBound(this.#cpSeq, fromSeq + 1) - 1; // the last entry at or before fromSeq
    return i < 0 ? { from: 0, to } : { from: this.#cpOffset[i]!, to, seq: this.#cpSeq[i]! };
  }

  /** The identity (device and inode) of the file indexed, undefined before the first refresh or without one. */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** The file no longer holds what was indexed (a reader found other bytes at an offset): start again. */
  invalidate(): void {
    this.#identity = undefined; // the next refresh starts again from byte 0; readers until then read from 0
  }

  /**
   * One stat of the name decides whether there is anything to do (nothing while nothing was appended, and
   * nothing while only a torn line at the end grew no further). What is read, and how, is decided from the
   * opened file's own stat: the name may have passed to another file in between. Bytes at the indexed end
   * that do not start the next record (the file was rewritten in place, same identity) start it again too.
   */
  async #catchUp(): Promise<void> {
    if (!this.#built) {
      // The build: what it indexes is no news (every query from now on reads it), so the version stays.
      const version = this.#version;
      this.#built = true;
      return this.#catchUp().finally(() => (this.#version = version));
    }
    const named = await this.#file.stat(this.#path);
    if (!named) {
      if (this.#identity !== undefined) this.#reset(undefined);
      return;
    }
    if (named.identity === this.#identity && named.size >= this.#end && named.size <= this.#seen) return;
    const fh = await this.#file.open(this.#path);
    if (!fh) return;
    const before = this.#lines;
    try {
      const s = await fh.stat();
      if (s.identity !== this.#identity || s.size < this.#end) this.#reset(s.identity);
      if (s.size <= this.#end) return;
      const from = this.#end;
      const expected = from > 0 && this.#ordered ? this.#lastSeq + 1 : undefined;
      let stale = false;
      await forEachLine(fh, from, s.size, SCAN_CHUNK, (line, offset) => {
        if (expected !== undefined && offset === from && seqOf(line) !== expected) return (stale = true);
        this.#add(line, offset);
      });
      if (stale) {
        this.#reset(s.identity);
        await forEachLine(fh, 0, s.size, SCAN_CHUNK, (line, offset) => this.#add(line, offset));
      }
      this.#seen = s.size;
    } finally {
      await fh.close();
      if (this.#lines !== before) this.#version++;
    }
  }

  #add(line: Buffer, offset: number): void {
    const seq = seqOf(line);
    if (!(seq > this.#lastSeq))
      this.#ordered = false; // NaN too: a line that does not start {"seq":N,
    else this.#lastSeq = seq;
    if (this.#lines % this.#stride === 0) {
      if (this.#cpSeq.length >= this.#maxCheckpoints) {
        this.#cpSeq = this.#cpSeq.filter((_, i) => i % 2 === 0);
        this.#cpOffset = this.#cpOffset.filter((_, i) => i % 2 === 0);
        this.#stride *= 2;
      }
      if (this.#lines % this.#stride === 0) {
        this.#cpSeq.push(seq);
        this.#cpOffset.push(offset);
      }
    }
    this.#tailSeq.push(seq);
    this.#tailOffset.push(offset);
    if (this.#tailSeq.length >= 2 * this.#tail) {
      this.#tailSeq.splice(0, this.#tail);
      this.#tailOffset.splice(0, this.#tail);
    }
    this.#lines++;
    this.#end = offset + line.length + 1; // consistent at every step: a query reads only what is indexed
  }

  #reset(identity: string | undefined): void {
    this.#identity = identity;
    this.#end = 0;
    this.#seen = 0;
    this.#lines = 0;
    this.#lastSeq = 0;
    this.#ordered = true;
    this.#cpSeq = [];
    this.#cpOffset = [];
    this.#tailSeq = [];
    this.#tailOffset = [];
    this.#version++;
  }
}

const PREFIX = Buffer.from('{"seq":');

/** N of a line starting `{"seq":N,` (as every record does), else NaN. */
function seqOf(line: Buffer): number {
  if (line.length < PREFIX.length + 2 || line.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0) return NaN;
  let n = 0;
  let i = PREFIX.length;
  for (; i < line.length && i < PREFIX.length + 16; i++) {
    const c = line[i]!;
    if (c === 0x2c) break;
    if (c < 0x30 || c > 0x39) return NaN;
    n = n * 10 + (c - 0x30);
  }
  return i > PREFIX.length && line[i] === 0x2c ? n : NaN;
}

/** The first index of ascending `a` whose value is >= `v` (a.length if none). */
function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
