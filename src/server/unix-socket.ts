import { chmod, chown, mkdtemp, rename, rm, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { UnwrapdError } from '../errors.js';

/** The longest Unix socket path the kernel takes (sun_path, less its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Binds a Unix socket so that it is never connectable with a wider mode or another group than configured:
 * the socket is bound inside a fresh private directory (0700) next to `path`, given its mode and group there,
 * and only then renamed into place (rename is atomic). A live socket at `path` is left alone (another daemon);
 * a stale one (a killed daemon's) is replaced.
 */
export async function bindUnixSocket(
  path: string,
  opts: { mode: number; gid?: number | undefined },
  bind: (tmpPath: string) => Promise<unknown>,
): Promise<void> {
  await removeStaleSocket(path);
  const dir = await mkdtemp(join(dirname(path), `.${basename(path).slice(0, 8)}-`));
  try {
    const tmp = join(dir, 's');
    if (Buffer.byteLength(tmp) > MAX_SOCKET_PATH_BYTES) {
      throw new UnwrapdError(
        'unavailable',
        `cannot listen on unix://${path}: the private bind path ${tmp} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter socket path`,
      );
    }
    await bind(tmp);
    await chmod(tmp, opts.mode);
    if (opts.gid !== undefined) await chown(tmp, -1, opts.gid);
    await rename(tmp, path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function removeSocket(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/** A socket file left by a killed daemon blocks nothing here, but one that still answers belongs to a live daemon. */
async function removeStaleSocket(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
  if (live) throw new UnwrapdError('unavailable', `another process is already listening on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
