import { spawn, type SpawnOptions } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/cli-io.js';
import { runCommandLine } from '../../src/cli/run.js';
import { wantsHelp } from '../../src/cli/usage.js';
import { withKeyPool } from './child-key-pool.js';
import { CLI } from './serve-process.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  /** stdout as bytes (an envelope or plaintext written to stdout). */
  stdoutBytes: Buffer;
  stderr: string;
}

/**
 * Runs this checkout's `unwrapd` with `args` in a child process; `input` goes to its stdin (closed at once when
 * absent); `options` (cwd, env, uid, gid) go to spawn, the environment with the test key pool added
 * (child-key-pool.ts) unless it runs as another user. Never rejects on a failing command: the exit code is the result.
 */
export async function runCli(
  args: string[],
  input: string | Buffer = '',
  options: Pick<SpawnOptions, 'cwd' | 'env' | 'uid' | 'gid'> = {},
): Promise<CliResult> {
  const base = options.env ?? process.env;
  // A command run as another user (`uid`) could read neither the compiled preload nor the claims directory,
  // both private to this user: it generates its keys.
  const env = options.uid === undefined ? await withKeyPool(base) : base;
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { ...options, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString(), stdoutBytes, stderr });
    });
    child.stdin.on('error', () => {}); // EPIPE: the command exited before reading all of its input
    child.stdin.end(input);
  });
}

/**
 * Runs the `unwrapd` command line `args` in this process (runCommandLine, src/cli/run.ts), against its own IO:
 * `input` on stdin (not a terminal) in 64 KiB chunks as a pipe gives it, stdout and stderr captured,
 * `options.env` (default: this process's) as its environment; `options.stderrIsTTY` has stderr taken for a
 * terminal. The same result as runCli without a process's start; for what only a process shows (the bin wrapper,
 * a real pipe, signals, another working directory or user) use runCli. Refuses `serve` (a daemon runs in a
 * process; `serve --help` is only the usage text). What it does not see: anything written to the real
 * process.stderr rather than the command's IO (Node's warnings), and a stop signal (it never sends one, so
 * `events` or `audit follow` must be given an end: `--count`, `--limit`).
 */
export async function runCliInProcess(
  args: string[],
  input: string | Buffer = '',
  options: { env?: NodeJS.ProcessEnv; stderrIsTTY?: boolean } = {},
): Promise<CliResult> {
  if (args[0] === 'serve' && !wantsHelp(args)) throw new Error('runCliInProcess: serve runs in a process (runCli)');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        into.push(chunk);
        done();
      },
    });
  const io: CliIo = {
    stdin: Readable.from(pipeChunks(Buffer.from(input))),
    stdout: sink(out),
    stderr: Object.assign(sink(err), { isTTY: options.stderrIsTTY === true }),
    env: options.env ?? process.env,
    onStopSignal: () => () => {},
  };
  const code = await runCommandLine(args, io);
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString(), stdoutBytes, stderr: Buffer.concat(err).toString() };
}

/** The arguments of `unwrapd encrypt` of file `input` into file `out` under the test daemon's demo policy. */
export function demoEncryptArgs(input: string, out: string): string[] {
  return ['encrypt', '--tenant', 'demo', '--policy', 'demo-mailbox', '--in', input, '--out', out];
}

/** `input` in the pieces a pipe delivers it in (64 KiB on Linux), none for an empty input. */
function pipeChunks(input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let off = 0; off < input.length; off += 64 * 1024) chunks.push(input.subarray(off, off + 64 * 1024));
  return chunks;
}
