import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that a test can cut: `cut()` drops every open connection and refuses new ones
 * (they are accepted and closed at once), `restore()` lets connections through again. Used to take one
 * instance off PostgreSQL while the others stay connected.
 */
export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  cut(): void;
  /** Stops forwarding without closing anything (a partition: packets vanish, no FIN, no RST). */
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let open = true;
  let silent = false;
  const server: Server = createServer((client) => {
    if (silent) {
      // Accepted and never answered.
      client.pause();
      sockets.add(client);
      client.on('error', () => {});
      return;
    }
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.add([client, upstream]);
    client.on('close', () => {
      for (const p of pairs) if (p[0] === client) pairs.delete(p);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    rewrite: (url: string) => throughPort(url, port),
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    blackhole() {
      silent = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    restore() {
      // Connections left from a black hole stay dead (as after a real partition, they time out).
      if (silent) {
        for (const s of sockets) s.destroy();
        sockets.clear();
        pairs.clear();
      }
      silent = false;
      open = true;
    },
    async close() {
      open = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `url` with its host and port replaced by a proxy's on 127.0.0.1 (a connection string through the proxy). */
export function throughPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}
