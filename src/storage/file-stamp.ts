import type { BigIntStats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

/**
 * A file's stamp: its identity and version as the filesystem shows them (device, inode, size, modification
 * and change times in nanoseconds). Two reads with the same stamp read the same bytes, so a reader that
 * keeps a snapshot of a file (the file registry, the local keystore) re-reads it only when its stamp
 * changed. A replacement by rename changes the inode; an in-place write changes the times.
 */
export const MISSING_STAMP = 'missing';

export function stampOf(info: BigIntStats | undefined): string {
  if (!info) return MISSING_STAMP;
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/** The file's stats now, or undefined when it does not exist; any other failure is thrown as it is. */
export async function statOrMissing(path: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(path, { bigint: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The file's stamp now; MISSING_STAMP when it does not exist. */
export async function currentStamp(path: string): Promise<string> {
  return stampOf(await statOrMissing(path));
}

export interface StampedText {
  text: string;
  stamp: string;
  info: BigIntStats;
}

/**
 * Reads the whole file and its stamp through one descriptor, so the stamp belongs to the bytes read.
 * Undefined when the file does not exist. `check` sees the stats before anything is read (and may throw:
 * the keystore refuses a file group or others can read). Open and read failures are thrown as they are
 * (callers name the file and the errno code, never the content).
 */
export async function readStamped(path: string, check?: (info: BigIntStats) => void): Promise<StampedText | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const info = await fh.stat({ bigint: true });
    check?.(info);
    const text = await fh.readFile('utf8');
    return { text, stamp: stampOf(info), info };
  } finally {
    await fh.close();
  }
}

/** The errno code of a filesystem error (ENOENT, EACCES...), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
