import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { withKeyPool } from './child-key-pool.js';

/** The `unwrapd` command of this checkout. */
export const CLI = fileURLToPath(new URL('../../bin/unwrapd.js', import.meta.url));

export interface ServeProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Its data directory (removed in teardown). */
  dir: string;
  /** What `ready` matched on stdout. */
  ready: RegExpExecArray;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  terminate(): Promise<number | null>;
}

/**
 * Runs `unwrapd serve` in a child process with a fresh data directory (`env(dir)` is its whole environment,
 * with the test key pool added: child-key-pool.ts) and waits until its stdout matches `ready`; rejects if it
 * exits first. In teardown, whatever the outcome: the process killed if it still runs, the data directory
 * removed.
 */
export async function startServe(
  t: ExecutionContext,
  env: (dir: string) => NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<ServeProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-serve-'));
  const child = spawn('node', [CLI, 'serve'], { env: await withKeyPool(env(dir)), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = ready.exec(out);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`unwrapd serve exited ${code}: ${stderr}`)));
  });
  return {
    child,
    dir,
    ready: match,
    stderr: () => stderr,
    terminate() {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}
