/**
 * Real unwrapd processes for the fleet tests and the propagation benchmark: `node bin/unwrapd.js serve`
 * with the PostgreSQL registry, each on its own Unix socket in its own data dir, all sharing one keystore
 * file and one database. Each child gets a watchdog that kills it if the parent disappears without
 * stopping it (a test process killed outright), so no daemon outlives its test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnwrapdClient } from '../../src/client/client.js';
import { childNodeArgs } from './compiled-child.js';
import { rsaKeyPoolInUse } from './rsa-key-pool.js';

const BIN = fileURLToPath(new URL('../../bin/unwrapd.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * In a test process (one that uses the RSA key pool, test/helpers/rsa-key-pool.ts; not a benchmark): the CLI
 * from the sources with the pool (fleet-child.ts), compiled once per process (compiled-child.ts).
 */
const FLEET_CHILD = new URL('./fleet-child.ts', import.meta.url);

export interface FleetInstance {
  name: string;
  pid: number;
  address: string;
  adminAddress: string;
  client: UnwrapdClient;
  /** stderr so far (JSON log lines), for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

export interface FleetInstanceOptions {
  name: string;
  /** A directory for this instance's data (socket, audit log). */
  dir: string;
  keystorePath: string;
  pgUrl: string;
  env?: Record<string, string>;
}

export async function startFleetInstance(opts: FleetInstanceOptions): Promise<FleetInstance> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const socket = join(opts.dir, 'unwrapd.sock');
  const adminSocket = join(opts.dir, 'admin.sock');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UNWRAPD_DATA_DIR: opts.dir,
    UNWRAPD_LISTEN: `unix://${socket}`,
    UNWRAPD_KEYSTORE: opts.keystorePath,
    UNWRAPD_REGISTRY_BACKEND: 'postgres',
    UNWRAPD_PG_URL: opts.pgUrl,
    UNWRAPD_DEMO: 'false',
    UNWRAPD_LOG_LEVEL: 'warn',
    UNWRAPD_CALLER_ROLES: 'user,system',
    UNWRAPD_ADMIN_LISTEN: `unix://${adminSocket}`,
    UNWRAPD_ADMIN_SOCKET_ROLES: 'user,system,admin,recovery',
    UNWRAPD_SHUTDOWN_TIMEOUT_MS: '2000',
    ...opts.env,
  };
  const command = rsaKeyPoolInUse() ? await childNodeArgs(FLEET_CHILD) : [BIN];
  const child: ChildProcess = spawn(process.execPath, [...command, 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null`,
    ],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watchdog.unref();
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${opts.name} did not start within 60 s:\n${stderr.slice(-4000)}`)),
      60_000,
    );
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('unwrapd is listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited with ${code} before listening:\n${stderr.slice(-4000)}`));
    });
  });
  child.stdout?.resume();
  const address = `unix://${socket}`;
  const adminAddress = `unix://${adminSocket}`;
  const client = new UnwrapdClient(address, { adminAddress, deadlineMs: 20_000 });
  let stopping: Promise<void> | undefined;
  return {
    name: opts.name,
    pid: child.pid ?? 0,
    address,
    adminAddress,
    client,
    logs: () => stderr,
    stop() {
      stopping ??= (async () => {
        client.close();
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}
