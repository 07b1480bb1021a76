import { randomBytes } from 'node:crypto';
import { link, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/**
 * Replaces the file atomically, then overwrites the superseded copy with zeros and fsyncs it, for a file
 * that holds secrets (the local keystore). Best effort: a copy-on-write filesystem, SSD wear levelling or
 * backups can still hold old bytes. Call it holding the file's inter-process lock.
 * The old file is kept open across the rename, so its inode is overwritten (and fsynced) through that
 * handle even where hard links are not possible; a hard link aside also lets the next writer scrub it if
 * this process dies between the rename and the overwrite. Returns how many bytes were overwritten.
 */
export async function replaceScrubbing(path: string, data: string): Promise<number> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.superseded.`;
  await sweepSuperseded(path, dir, prefix); // left by a crash; we hold the lock, so no writer is mid-way
  const old = await open(path, 'r+').catch(() => undefined); // no file yet: nothing to scrub
  const aside = join(dir, `${prefix}${process.pid}.${randomBytes(6).toString('hex')}`);
  const kept = old
    ? await link(path, aside).then(
        () => true,
        () => false,
      )
    : false; // no hard links: the handle still scrubs
  try {
    try {
      await writeFileAtomic(path, data, 0o600);
    } catch (err) {
      if (kept) await unlink(aside).catch(() => {}); // still the live file: never scrub it
      throw err;
    }
    const scrubbed = old ? await zeroFile(old) : 0;
    if (kept) await unlink(aside).catch(() => {});
    return scrubbed;
  } finally {
    await old?.close().catch(() => {});
  }
}

/** Overwrites the whole file behind `fh` with zeros and fsyncs it; returns the bytes overwritten. */
async function zeroFile(fh: FileHandle): Promise<number> {
  const { size } = await fh.stat();
  if (size > 0) await fh.write(Buffer.alloc(size), 0, size, 0);
  await fh.sync();
  return size;
}

async function sweepSuperseded(path: string, dir: string, prefix: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (name.startsWith(prefix)) await scrub(path, join(dir, name));
}

async function scrub(livePath: string, file: string): Promise<void> {
  try {
    const live = await stat(livePath).catch(() => undefined);
    const fh = await open(file, 'r+');
    try {
      const info = await fh.stat();
      if (!live || live.ino !== info.ino || live.dev !== info.dev) {
        await fh.write(Buffer.alloc(info.size), 0, info.size, 0);
        await fh.sync();
      }
    } finally {
      await fh.close();
    }
  } catch {
    // best effort: unlinking below still removes the name
  }
  await unlink(file).catch(() => {});
}
