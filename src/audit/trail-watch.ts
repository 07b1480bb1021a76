import type { FileTrailIndex } from './file-trail-index.js';

/**
 * The file trail's one notification of new records, shared by all its followers: each listener is called
 * once per change of the index (one append of this process; or the records another process appended to the
 * same file, found by one stat of the file every `watchMs`, a read of the new bytes only when it grew). The
 * stat runs only while someone listens, and once per interval whatever the number of listeners; nothing is
 * read while nothing is appended. Before the first query built the index, the check is the stat alone, and a
 * change of the file's size or identity is announced without reading it.
 */
export interface TrailWatch {
  add(listener: () => void): () => void;
  /** After an append of this process (under the file's lock): index the new bytes (a stat before the build). */
  indexAppended(): Promise<void>;
  /** Once that append resolved: tell every listener once, if the index moved since they were last told. */
  announce(): void;
  close(): void;
}

export function watchTrail(index: FileTrailIndex, watchMs: number): TrailWatch {
  const listeners = new Set<() => void>();
  let announced = index.version;
  let unindexed = false; // an append whose bytes could not be indexed: tell the listeners anyway
  let timer: NodeJS.Timeout | undefined;
  const announce = () => {
    if (index.version === announced && !unindexed) return;
    announced = index.version;
    unindexed = false;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch {
        // One listener's failure is its own.
      }
    }
  };
  const tick = () => void index.poll().then(announce, () => {}); // an unreadable file: tried again next tick
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
  };
  return {
    add(listener) {
      listeners.add(listener);
      timer ??= setInterval(tick, watchMs).unref();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stop();
      };
    },
    indexAppended: () =>
      index.poll().catch(() => {
        unindexed = true;
      }),
    announce,
    close() {
      listeners.clear();
      stop();
    },
  };
}
