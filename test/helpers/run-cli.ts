import { spawn } from 'node:child_process';
import { CLI } from './serve-process.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs this checkout's `unwrapd` with `args` in a child process; `input` goes to its stdin (closed at once when
 * absent). Never rejects on a failing command: the exit code is the result.
 */
export function runCli(args: string[], input: string | Buffer = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
