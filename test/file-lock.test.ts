import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFileLock, type LockFs } from '../src/storage/file-lock.js';

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'unwrapd-lock-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A lock token of a live process on this host that is not this one (the test runner's parent). */
const foreignToken = (tag: string): string => `${process.ppid}@${hostname()}#${tag}`;

/**
 * The file operations of a waiter whose first read of `lockPath` is answered only once `gate` opens
 * (`firstRead` tells it started, `readAfterGate` that a later read came). Every move of the lock path is
 * recorded in `movedAside`; when `takeAfterMove(moved)` says so, another live process (D) links its lock in at once.
 */
function gatedLockFs(lockPath: string, takeAfterMove: (moved: string) => boolean) {
  const reads: string[] = [];
  const firstRead = deferred();
  const readAfterGate = deferred();
  const gate = deferred();
  const movedAside: string[] = [];
  const seam: LockFs = {
    ...fs,
    readFile: (async (file: string, enc: BufferEncoding) => {
      const text = await fs.readFile(file, enc);
      if (file === lockPath) {
        reads.push(text);
        if (reads.length === 1) {
          firstRead.resolve();
          await gate.promise;
        } else {
          readAfterGate.resolve();
        }
      }
      return text;
    }) as LockFs['readFile'],
    rename: async (from, to) => {
      if (from === lockPath) movedAside.push(await fs.readFile(lockPath, 'utf8'));
      await fs.rename(from, to);
      if (from === lockPath && takeAfterMove(movedAside.at(-1)!))
        await fs.writeFile(lockPath, foreignToken('d'), { flag: 'wx', mode: 0o600 });
    },
  };
  return { seam, reads, firstRead, readAfterGate, gate, movedAside };
}

// The interleaving: B, waiting in this process, reads A's lock; A releases; another process (F) takes the
// lock; only then does B judge what it read. A released token of this process looks like an orphan, so B
// used to break the lock, which was F's by then: rename aside, then put back, and a third process (D)
// linking in between left F and D both holding it (a lost update between their read-modify-writes).
test("a waiter that read a lock just before its owner in this process released it never breaks the next owner's lock", async (t) => {
  const dir = await tempDir(t);
  const lockPath = join(dir, 'store.lock');
  const held = deferred();
  const releaseA = deferred();
  const a = withFileLock(lockPath, async () => {
    held.resolve();
    await releaseA.promise;
  });
  await held.promise;

  // Another process (D) takes the free lock right after any move of it, before anything can be put back.
  const { seam, reads, firstRead, readAfterGate, gate, movedAside } = gatedLockFs(lockPath, () => true);
  let bRan = false;
  const b = withFileLock(
    lockPath,
    async () => {
      bRan = true;
    },
    { fs: seam, timeoutMs: 60_000 },
  );
  b.catch(() => {}); // awaited below; a failed assertion must not leave it unhandled

  await firstRead.promise;
  t.true(reads[0]?.startsWith(`${process.pid}@`), 'B read the lock while A held it');
  releaseA.resolve();
  await a;
  await fs.writeFile(lockPath, foreignToken('f'), { flag: 'wx', mode: 0o600 }); // F, a live process, takes it
  gate.resolve();
  await readAfterGate.promise;

  t.deepEqual(movedAside, [], "the live owner's lock was moved aside");
  t.is(await fs.readFile(lockPath, 'utf8'), foreignToken('f'), 'F still holds the lock');
  t.false(bRan, 'B waits while F holds the lock');

  await fs.unlink(lockPath); // F releases
  await b;
  t.true(bRan);
  await t.throwsAsync(fs.stat(lockPath), { code: 'ENOENT' }, 'B released the lock');
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

// Two breakers of one dead owner's lock: B1 reads it and stalls; B2 breaks it and takes the lock (Y); then
// B1 judges what it read. It used to rename the lock path (Y by then) aside and put it back, and a third
// process (D) linking in between left B2 and D both holding it.
test("two waiters breaking the same dead owner's lock never move the lock one of them took", async (t) => {
  const dir = await tempDir(t);
  const lockPath = join(dir, 'store.lock');
  const dead = `${await deadPid()}@${hostname()}#dead`;
  await fs.writeFile(lockPath, dead, { mode: 0o600 });

  // D takes the lock right after a move of anything but the dead owner's lock.
  const { seam, reads, firstRead, readAfterGate, gate, movedAside } = gatedLockFs(lockPath, (moved) => moved !== dead);
  const b1 = withFileLock(lockPath, async () => 'b1', { fs: seam, timeoutMs: 60_000 });
  b1.catch(() => {});
  await firstRead.promise;
  t.is(reads[0], dead);

  const held = deferred();
  const releaseB2 = deferred();
  const b2 = withFileLock(
    lockPath,
    async () => {
      held.resolve();
      await releaseB2.promise;
    },
    { timeoutMs: 60_000 },
  );
  await held.promise;
  const y = await fs.readFile(lockPath, 'utf8');
  t.regex(y, new RegExp(`^${process.pid}@`), 'B2 broke the dead lock and holds its own');
  gate.resolve();
  await readAfterGate.promise;

  t.deepEqual(
    movedAside.filter((c) => c !== dead),
    [],
    "a live owner's lock was moved aside",
  );
  t.is(await fs.readFile(lockPath, 'utf8'), y, 'B2 still holds the lock');

  releaseB2.resolve();
  await b2;
  if ((await fs.readFile(lockPath, 'utf8').catch(() => '')) === foreignToken('d')) await fs.unlink(lockPath);
  t.is(await b1, 'b1');
  t.deepEqual(await fs.readdir(dir), [], 'no lock, break lock or temp file left');
});

test('an orphaned lock of this process (no holder here) is broken', async (t) => {
  const dir = await tempDir(t);
  const lockPath = join(dir, 'store.lock');
  await fs.writeFile(lockPath, `${process.pid}@${hostname()}#0123456789abcdef`, { mode: 0o600 });
  t.is(await withFileLock(lockPath, async () => 'ran', { timeoutMs: 30_000 }), 'ran');
  t.deepEqual(await fs.readdir(dir), []);
});

test('a lock of a live process on this host is waited for, not broken', async (t) => {
  const dir = await tempDir(t);
  const lockPath = join(dir, 'store.lock');
  await fs.writeFile(lockPath, foreignToken('live'), { mode: 0o600 });
  const err = await t.throwsAsync(withFileLock(lockPath, async () => 'ran', { timeoutMs: 50 }));
  t.regex(err?.message ?? '', /timed out waiting for lock/);
  t.is(await fs.readFile(lockPath, 'utf8'), foreignToken('live'));
});

// A process that does not take turns on `<lock>.break` (an older version sharing the directory) breaks the dead
// owner's lock between the breaker's last read and its rename, and a live process (F) links in: the breaker's
// rename moves F's lock, so it must put it back, not delete it.
test('a breaker that finds a live lock where it expected the dead one puts it back', async (t) => {
  const dir = await tempDir(t);
  const lockPath = join(dir, 'store.lock');
  const dead = `${await deadPid()}@${hostname()}#dead`;
  await fs.writeFile(lockPath, dead, { mode: 0o600 });

  let swapped = false;
  const putBack = deferred();
  const seam: LockFs = {
    ...fs,
    rename: async (from, to) => {
      if (from === lockPath && !swapped) {
        swapped = true;
        await fs.unlink(lockPath); // the old-version breaker
        await fs.writeFile(lockPath, foreignToken('f'), { flag: 'wx', mode: 0o600 }); // F takes the lock
      }
      await fs.rename(from, to);
    },
    link: async (from, to) => {
      await fs.link(from, to);
      if (to === lockPath && String(from).includes('.stale.')) putBack.resolve();
    },
  };
  let bRan = false;
  const b = withFileLock(
    lockPath,
    async () => {
      bRan = true;
    },
    { fs: seam, timeoutMs: 60_000 },
  );
  b.catch(() => {});
  await putBack.promise; // fails by timeout if the breaker deleted F's lock instead
  t.is(await fs.readFile(lockPath, 'utf8'), foreignToken('f'), "F's lock was put back");
  t.false(bRan, 'B waits while F holds the lock');
  await fs.unlink(lockPath);
  await b;
  t.true(bRan);
});
