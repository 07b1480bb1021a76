import { fork, type ChildProcess } from 'node:child_process';
import type { StreamStats } from '../../src/core/stream-service.js';
import { childNodeArgs } from './compiled-child.js';

export interface ChildStats {
  memory: NodeJS.MemoryUsage;
  streams: StreamStats;
}

export interface DaemonProcess {
  address: string;
  /** The child's process id (for tests that read its memory through /proc). */
  pid: number;
  /** The child's data directory (keystore.json, policies.json). */
  dir: string;
  /** The admin listener (Admin service). */
  adminAddress: string;
  /**
   * The child's memory right after a full GC, and its stream counters. With `{ gc: 'young' }`, after collecting
   * the young generation only: at least what a full GC would leave (old garbage is still counted), for about a
   * hundredth of its cost, for samplers that need a full GC only when this bound is over their limit.
   */
  stats(opts?: { gc?: 'full' | 'young' }): Promise<ChildStats>;
  stop(): Promise<void>;
}

/**
 * Starts test/helpers/daemon-child.ts (a real daemon in its own process) and waits until it serves (the
 * embedded default generates three RSA keys on the way: benchmarks on a loaded machine give more time).
 */
export async function startDaemonProcess(
  overrides: Record<string, unknown> = {},
  opts: { readyTimeoutMs?: number } = {},
): Promise<DaemonProcess> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  // daemon-child.ts compiled once per test process (compiled-child.ts), or through tsx without esbuild.
  const nodeArgs = await childNodeArgs(new URL('./daemon-child.ts', import.meta.url));
  const child: ChildProcess = fork(nodeArgs.at(-1)!, [JSON.stringify(overrides)], {
    execArgv: [...nodeArgs.slice(0, -1), '--expose-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const { address, adminAddress, dir } = await new Promise<{ address: string; adminAddress: string; dir: string }>(
    (resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`daemon child did not start within ${readyTimeoutMs / 1000} s`));
      }, readyTimeoutMs);
      child.once('exit', (code) => reject(new Error(`daemon child exited with ${code}`)));
      child.on('message', (msg: { type?: string; address?: string; adminAddress?: string; dir?: string }) => {
        if (msg.type === 'ready' && msg.address) {
          clearTimeout(timer);
          resolve({ address: msg.address, adminAddress: msg.adminAddress ?? '', dir: msg.dir ?? '' });
        }
      });
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    address,
    pid: child.pid!,
    dir,
    adminAddress,
    stats: (opts = {}) =>
      new Promise<ChildStats>((resolve) => {
        const onMessage = (msg: { type?: string } & Partial<ChildStats>) => {
          if (msg.type !== 'stats') return;
          child.off('message', onMessage);
          resolve({ memory: msg.memory!, streams: msg.streams! });
        };
        child.on('message', onMessage);
        child.send({ type: 'stats', gc: opts.gc ?? 'full' });
      }),
    async stop() {
      if (child.exitCode === null) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
