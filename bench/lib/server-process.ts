import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The project root: `--import=tsx` resolves from here. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url));

export interface ServerInfo {
  pid: number;
  node: string;
  unwrapd: string | undefined;
  /** The daemon's admin listener (GetStatus for the cache counters). */
  unwrapdAdmin: string | undefined;
  /** A second daemon whose authorization table holds 1,000 identities, the caller's among them. */
  unwrapdTable: string | undefined;
  /** The telemetry endpoint (host:port) of a server started with --telemetry. */
  metrics?: string | undefined;
  echo: string;
  dir: string;
  tenant: string;
  policy: string;
  maxBlockBytes: number;
  /** The HTTP/2 receive window of the daemon's and the Echo's calls and connections (server-child.ts --window). */
  windowBytes: number;
}

export interface ServerCpu {
  /** User plus system CPU time of the server process since it started, in microseconds. */
  cpuUs: number;
  rssBytes: number;
}

export interface ServerProcessOptions {
  /** Extra node flags for the child, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  /** Flags for server-child.ts. */
  args?: string[];
  readyTimeoutMs?: number;
}

/**
 * The parent's handle on bench/lib/server-child.ts: starts it, waits for its ready line, asks it for its
 * CPU time between measurements, and stops it (stdin closed and SIGTERM; SIGKILL if it hangs), removing
 * its temp dir whatever happened.
 */
export class ServerProcess {
  readonly info: ServerInfo;
  readonly #child: ChildProcess;
  readonly #lines: Interface;
  readonly #exited: Promise<void>;
  #pending: ((line: string) => void)[] = [];
  #stopped: Promise<void> | undefined;

  private constructor(child: ChildProcess, lines: Interface, info: ServerInfo, exited: Promise<void>) {
    this.#child = child;
    this.#lines = lines;
    this.info = info;
    this.#exited = exited;
    lines.on('line', (line) => this.#pending.shift()?.(line));
  }

  static async start(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import=tsx', CHILD, ...(opts.args ?? [])], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const lines = createInterface({ input: child.stdout! });
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    let first: string;
    try {
      first = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server child not ready after ${timeoutMs} ms`)), timeoutMs);
        lines.once('line', (line) => {
          clearTimeout(timer);
          resolve(line);
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`server child exited before it was ready (code ${code}, signal ${signal})`));
        });
        child.once('error', reject);
      });
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    const msg = JSON.parse(first) as Partial<ServerInfo> & { ready?: boolean; error?: string };
    if (!msg.ready) {
      child.kill('SIGKILL');
      throw new Error(`server child failed: ${msg.error ?? first}`);
    }
    return new ServerProcess(child, lines, msg as ServerInfo, exited);
  }

  /** The server's CPU time so far; the difference over a measurement is its cost. */
  cpu(): Promise<ServerCpu> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server child did not answer "cpu"')), 5_000);
      this.#pending.push((line) => {
        clearTimeout(timer);
        const msg = JSON.parse(line) as { cpu: { userUs: number; systemUs: number }; rssBytes: number };
        resolve({ cpuUs: msg.cpu.userUs + msg.cpu.systemUs, rssBytes: msg.rssBytes });
      });
      this.#child.stdin!.write('cpu\n');
    });
  }

  stop(timeoutMs = 10_000): Promise<void> {
    this.#stopped ??= (async () => {
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        this.#child.stdin!.end('stop\n');
        const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
        await this.#exited;
        clearTimeout(timer);
      }
      this.#lines.close();
      // The child removes its dir; this covers a child that was killed first.
      await rm(this.info.dir, { recursive: true, force: true });
    })();
    return this.#stopped;
  }

  /** Last resort from a signal handler or exit hook: synchronous. */
  killNow(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
  }
}
