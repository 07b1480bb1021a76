import { hostname } from 'node:os';
import { link, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnwrapdError } from '../errors.js';

/**
 * An exclusive lock between processes sharing a directory: a lock file, linked into place atomically, that
 * holds the owner's pid and host. A lock whose owner is dead (same host, pid gone, e.g. after SIGKILL) is broken; the
 * break is a rename to a unique name followed by a check that what was renamed is still that dead owner's
 * lock, so two processes breaking the same stale lock cannot remove a fresh one.
 */
export interface LockOptions {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const token = await acquire(lockPath, opts);
  try {
    return await fn();
  } finally {
    await release(lockPath, token);
  }
}

const HOST = hostname();
const EMPTY_LOCK_STALE_MS = 2_000;
/** Tokens of the locks this process holds (or is creating) right now. */
const heldTokens = new Set<string>();

async function acquire(lockPath: string, opts: LockOptions): Promise<string> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const token = `${process.pid}@${HOST}#${randomBytes(8).toString('hex')}`;
  let delay = 2;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (await tryCreate(lockPath, token)) {
      await removeOrphanTemps(lockPath);
      return token;
    }
    await breakIfStale(lockPath);
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
async function tryCreate(lockPath: string, token: string): Promise<boolean> {
  // Registered before the file exists, so another lock in this process never judges it an orphan.
  heldTokens.add(token);
  const tmp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.new`;
  try {
    await writeFile(tmp, token, { mode: 0o600, flag: 'wx' });
    await link(tmp, lockPath);
    return true;
  } catch (err) {
    heldTokens.delete(token);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Removes temp files of tryCreate left by processes that died between writing and unlinking them. */
async function removeOrphanTemps(lockPath: string): Promise<void> {
  const prefix = `${basename(lockPath)}.`;
  const names = await readdir(dirname(lockPath)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.new')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid))
      await unlink(join(dirname(lockPath), name)).catch(() => {});
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

async function release(lockPath: string, token: string): Promise<void> {
  const current = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (current === token) await unlink(lockPath).catch(() => {});
  heldTokens.delete(token);
}

async function breakIfStale(lockPath: string): Promise<void> {
  const content = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (content === undefined) return;
  if (content.length === 0) {
    // Never written by this code (locks are linked in whole); garbage from elsewhere: stale once old.
    const info = await stat(lockPath).catch(() => undefined);
    if (!info || Date.now() - info.mtimeMs < EMPTY_LOCK_STALE_MS) return;
  } else if (!isStale(content)) {
    return;
  }
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else broke or released it
  }
  if (!(await isSameStaleLock(aside, content))) {
    // We moved a fresh lock that replaced the stale one in between: put it back (link fails if taken).
    await link(aside, lockPath).catch(() => {});
  }
  await unlink(aside).catch(() => {});
}

/**
 * Whether what we renamed aside is the lock we judged stale. Tokens are unique, so equal content means the
 * same lock; but every empty lock looks alike, and a fresh owner between create and write is empty too: an
 * empty file counts only if it is still empty and still old (a fresh one has a new mtime).
 */
async function isSameStaleLock(aside: string, content: string): Promise<boolean> {
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== content) return false;
  if (content.length > 0) return true;
  const info = await stat(aside).catch(() => undefined);
  return info !== undefined && info.size === 0 && Date.now() - info.mtimeMs >= EMPTY_LOCK_STALE_MS;
}

function isStale(content: string): boolean {
  const match = /^(\d+)@([^#]*)#/.exec(content);
  if (!match) return true; // not a lock we wrote: garbage left by a crash
  const [, pidText, host] = match;
  if (host !== HOST) return false; // cannot judge another host's pid
  // Our own pid: stale unless this process holds that token now (an orphan, e.g. a released lock that a
  // breaker's rename-and-put-back restored; waiting on it would wait on ourselves).
  if (Number(pidText) === process.pid) return !heldTokens.has(content);
  return !isAlive(Number(pidText));
}
