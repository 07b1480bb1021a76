import { AsyncLocalStorage } from 'node:async_hooks';
import type { Readable, Writable } from 'node:stream';

/**
 * What a command line reads and writes: its standard streams, its environment, and how it learns it is asked
 * to stop (SIGINT/SIGTERM for a process). `processIo()` is the real process's; runCommandLine (run.ts) runs a
 * command line against any other, so the CLI runs in-process too (its tests do), each run with its own.
 */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Calls `stop` when the command line is asked to stop; returns the function that unhooks it. */
  onStopSignal(stop: () => void): () => void;
}

/** The process's own standard streams, environment and signals. */
export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onStopSignal(stop) {
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      };
    },
  };
}

const current = new AsyncLocalStorage<CliIo>();
let fallback: CliIo | undefined;

/** Runs `fn` with `io` as the command line's IO (cliIo()), for it and everything it awaits. */
export function withCliIo<T>(io: CliIo, fn: () => Promise<T>): Promise<T> {
  return current.run(io, fn);
}

/**
 * The IO of the command line running: the one given to withCliIo, else the process's. Read it at the start of
 * a command (or of a helper called from it), not in a stream's event handler: an event may run in the async
 * context of whoever created the underlying socket (gRPC shares connections between clients).
 */
export function cliIo(): CliIo {
  return current.getStore() ?? (fallback ??= processIo());
}
