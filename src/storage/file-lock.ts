import { hostname } from 'node:os';
import * as nodeFs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnwrapdError } from '../errors.js';

/**
 * An exclusive lock between processes sharing a directory: a lock file, linked into place atomically, that
 * holds the owner's pid and host. A stale lock is broken: its owner is dead (same host, pid gone, e.g. after
 * SIGKILL), or it is an orphan of this process (isOrphanOfThisProcess; never judged on a read that predates
 * its owner's release, which would move the next owner's lock). Breakers take turns on `<lock>.break` and
 * re-read the lock under it, so what they remove is the stale lock they judged, never a fresh one (two
 * breakers at once could otherwise leave two owners). A break lock whose breaker died is itself broken by
 * rename, check and put-back (breakAside).
 */
export interface LockOptions {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The file operations the lock uses (tests interpose on them to force an interleaving). */
  fs?: LockFs;
}

/** The subset of node:fs/promises the lock works through. */
export type LockFs = Pick<typeof nodeFs, 'link' | 'readdir' | 'readFile' | 'rename' | 'stat' | 'unlink' | 'writeFile'>;

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const fs = opts.fs ?? nodeFs;
  const token = await acquire(fs, lockPath, opts);
  try {
    return await fn();
  } finally {
    await release(fs, lockPath, token);
  }
}

const HOST = hostname();
const EMPTY_LOCK_STALE_MS = 2_000;
/** Tokens of the locks this process holds (or is creating) right now. */
const heldTokens = new Set<string>();

async function acquire(fs: LockFs, lockPath: string, opts: LockOptions): Promise<string> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const token = `${process.pid}@${HOST}#${randomBytes(8).toString('hex')}`;
  let delay = 2;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (await tryCreate(fs, lockPath, token)) {
      await removeOrphanTemps(fs, lockPath);
      return token;
    }
    await breakIfStale(fs, lockPath);
    if (Date.now() >= deadline) {
      throw new UnwrapdError('unavailable', `timed out waiting for lock ${lockPath}`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * Creates the lock holding `token`; false when another owner holds it. The token is written to a private
 * temp file first and then hard-linked into place, so the lock file is never seen empty or half-written
 * (link fails with EEXIST when the lock is taken, atomically, like O_EXCL).
 */
async function tryCreate(fs: LockFs, lockPath: string, token: string): Promise<boolean> {
  // Registered before the file exists, so another lock in this process never judges it an orphan.
  heldTokens.add(token);
  const tmp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.new`;
  try {
    await fs.writeFile(tmp, token, { mode: 0o600, flag: 'wx' });
    await fs.link(tmp, lockPath);
    return true;
  } catch (err) {
    heldTokens.delete(token);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(tmp).catch(() => {});
  }
}

/** Removes temp files of tryCreate left by processes that died between writing and unlinking them. */
async function removeOrphanTemps(fs: LockFs, lockPath: string): Promise<void> {
  const prefix = `${basename(lockPath)}.`;
  const names = await fs.readdir(dirname(lockPath)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.new')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid))
      await fs.unlink(join(dirname(lockPath), name)).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function release(fs: LockFs, lockPath: string, token: string): Promise<void> {
  const current = await fs.readFile(lockPath, 'utf8').catch(() => undefined);
  if (current === token) await fs.unlink(lockPath).catch(() => {});
  heldTokens.delete(token);
}

async function breakIfStale(fs: LockFs, lockPath: string): Promise<void> {
  const content = await staleContent(fs, lockPath);
  if (content === undefined) return;
  // One breaker at a time: no one else removes a stale lock (its owner is dead or gone), so under the break
  // lock the stale lock read again is still the one renamed below, and no fresh lock is ever moved.
  const breakLock = `${lockPath}.break`;
  const token = `${process.pid}@${HOST}#${randomBytes(8).toString('hex')}`;
  if (!(await tryCreate(fs, breakLock, token))) {
    await breakAside(fs, breakLock, await staleContent(fs, breakLock)); // its breaker died mid-break
    return; // the next round tries again
  }
  try {
    await removeOrphanTemps(fs, breakLock);
    if ((await fs.readFile(lockPath, 'utf8').catch(() => undefined)) !== content) return;
    // Checked and put back all the same: a process that does not take turns (an older version) may have
    // broken it between that read and the rename, and a fresh owner linked in.
    await breakAside(fs, lockPath, content);
  } finally {
    await release(fs, breakLock, token);
  }
}

/** The lock's content when it is stale (its owner dead, an orphan, or garbage); undefined when it is not. */
async function staleContent(fs: LockFs, lockPath: string): Promise<string | undefined> {
  const content = await fs.readFile(lockPath, 'utf8').catch(() => undefined);
  if (content === undefined) return undefined;
  if (content.length === 0) {
    // Never written by this code (locks are linked in whole); garbage from elsewhere: stale once old.
    const info = await fs.stat(lockPath).catch(() => undefined);
    return info && Date.now() - info.mtimeMs >= EMPTY_LOCK_STALE_MS ? content : undefined;
  }
  return (await isStale(fs, lockPath, content)) ? content : undefined;
}

/**
 * Breaks a stale break lock (a breaker died holding it): rename it aside, then check that what was renamed is
 * that lock; a fresh one renamed by mistake (two processes breaking it at once) is put back. In the moment
 * between, a third could take it: that needs a breaker to die within its few file operations.
 */
async function breakAside(fs: LockFs, lockPath: string, content: string | undefined): Promise<void> {
  if (content === undefined) return;
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(lockPath, aside);
  } catch {
    return; // someone else broke or released it
  }
  if (!(await isSameStaleLock(fs, aside, content))) {
    await fs.link(aside, lockPath).catch(() => {});
  }
  await fs.unlink(aside).catch(() => {});
}

/**
 * Whether what we renamed aside is the lock we judged stale. Tokens are unique, so equal content means the
 * same lock; but every empty lock looks alike, and a fresh owner between create and write is empty too: an
 * empty file counts only if it is still empty and still old (a fresh one has a new mtime).
 */
async function isSameStaleLock(fs: LockFs, aside: string, content: string): Promise<boolean> {
  const moved = await fs.readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== content) return false;
  if (content.length > 0) return true;
  const info = await fs.stat(aside).catch(() => undefined);
  return info !== undefined && info.size === 0 && Date.now() - info.mtimeMs >= EMPTY_LOCK_STALE_MS;
}

async function isStale(fs: LockFs, lockPath: string, content: string): Promise<boolean> {
  const match = /^(\d+)@([^#]*)#/.exec(content);
  if (!match) return true; // not a lock we wrote: garbage left by a crash
  const [, pidText, host] = match;
  if (host !== HOST) return false; // cannot judge another host's pid
  if (Number(pidText) === process.pid) return isOrphanOfThisProcess(fs, lockPath, content);
  return !isAlive(Number(pidText));
}

/**
 * A lock of this process that no code here holds (e.g. a released lock that a breaker's rename-and-put-back
 * restored; waiting on it would wait on ourselves). Not held NOW proves nothing about what was read BEFORE:
 * the read may predate its owner's release, and the file may already be another owner's lock. A token is in
 * `heldTokens` from before its file can exist until after its file is unlinked (tryCreate, release), so a
 * read started after seeing it not held that still finds it proves the file outlived its release.
 */
async function isOrphanOfThisProcess(fs: LockFs, lockPath: string, content: string): Promise<boolean> {
  if (heldTokens.has(content)) return false;
  return (await fs.readFile(lockPath, 'utf8').catch(() => undefined)) === content;
}
