/**
 * A cuttable TCP proxy (tcp-proxy.ts) in a child process of its own, so that the connections it carries do
 * not depend on the test process's event loop: a test that drives load from its own process (the fleet
 * revocation test, on a saturated machine) would otherwise slow down, and fence, the instance behind it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childNodeArgs } from './compiled-child.js';
import { throughPort } from './tcp-proxy.js';

export interface TcpProxyProcess {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /** Drops every open connection and refuses new ones. */
  cut(): Promise<void>;
  /** Stops forwarding without closing anything (no FIN, no RST). */
  blackhole(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./tcp-proxy-child.ts', import.meta.url));

export async function startTcpProxyProcess(targetHost: string, targetPort: number): Promise<TcpProxyProcess> {
  const nodeArgs = await childNodeArgs(CHILD);
  const child: ChildProcess = fork(nodeArgs.at(-1)!, [targetHost, String(targetPort)], {
    execArgv: nodeArgs.slice(0, -1),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`the proxy process exited with ${code}`)));
  });
  let next = 0;
  const pending = new Map<number, () => void>();
  child.on('message', (m: { id?: number }) => {
    if (m.id === undefined) return;
    pending.get(m.id)?.();
    pending.delete(m.id);
  });
  const send = (op: 'cut' | 'blackhole' | 'restore' | 'close') =>
    new Promise<void>((resolve) => {
      if (!child.connected) return resolve();
      const id = next++;
      pending.set(id, resolve);
      child.send({ id, op });
    });
  return {
    port,
    rewrite: (url: string) => throughPort(url, port),
    cut: () => send('cut'),
    blackhole: () => send('blackhole'),
    restore: () => send('restore'),
    async close() {
      const exited = new Promise<void>((resolve) =>
        child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
      );
      await send('close');
      await exited;
    },
  };
}
