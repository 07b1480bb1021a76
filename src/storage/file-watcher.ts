import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Follows changes to one file made by other processes: fs.watch on its directory (a replacement by rename
 * is an event on the directory, not the file) plus a periodic poll, since watch events can be lost or
 * unsupported (network filesystems). Bursts are coalesced: `onChange` runs at most once per `debounceMs`.
 * `onChange` should compare the file's stamp (src/storage/file-stamp.ts) and re-read only when it moved.
 */
export interface FileWatcherOptions {
  pollIntervalMs: number;
  debounceMs: number;
  onChange(): void;
  /** The watch failed or could not start: polling goes on alone. */
  onWatchError(err: unknown, what: 'cannot watch' | 'watch failed'): void;
}

export interface FileWatcher {
  close(): void;
}

export function watchFile(path: string, opts: FileWatcherOptions): FileWatcher {
  const name = basename(path);
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;

  const schedule = () => {
    if (closed || debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!closed) opts.onChange();
    }, opts.debounceMs);
    debounce.unref();
  };

  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename === null || filename === name) schedule();
    });
    watcher.on('error', (err) => {
      opts.onWatchError(err, 'watch failed');
      watcher?.close();
      watcher = undefined;
    });
  } catch (err) {
    opts.onWatchError(err, 'cannot watch');
  }
  const poll = setInterval(schedule, opts.pollIntervalMs);
  poll.unref();

  return {
    close() {
      closed = true;
      watcher?.close();
      watcher = undefined;
      clearInterval(poll);
      clearTimeout(debounce);
    },
  };
}
