import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Telemetry } from './telemetry.js';

/**
 * The HTTP endpoint for probes and scrapes (UNWRAPD_METRICS_LISTEN; off unless set):
 * - `GET /metrics`: the Prometheus text exposition;
 * - `GET /healthz`: liveness, 200 whenever the event loop answers. Nothing about keys, providers or
 *   revocation fails it: restarting the process would not fix those, and would drop the cache;
 * - `GET /readyz`: readiness, 200 once the daemon serves (registry loaded, gRPC listeners up) and the
 *   revocation feed is not deaf; 503 with a JSON reason otherwise.
 * Bounded: no request body is ever read (a request with one gets 413 and the connection closes), small
 * header, request and idle timeouts, a small header size.
 */

export interface Readiness {
  ready: boolean;
  /** Why not, for humans and logs: identifiers only. */
  reason?: string;
}

export interface MetricsServerOptions {
  /** host:port (port 0: any free port). */
  listen: string;
  telemetry: Telemetry;
  readiness: () => Readiness;
}

export interface MetricsServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

const TIMEOUT_MS = 5_000;

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = splitListen(opts.listen);
  const server = createServer(
    { maxHeaderSize: 8 * 1024, requestTimeout: TIMEOUT_MS, headersTimeout: TIMEOUT_MS },
    (req, res) => handle(req, res, opts),
  );
  server.keepAliveTimeout = TIMEOUT_MS;
  server.timeout = TIMEOUT_MS;
  server.maxHeadersCount = 32;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function handle(req: IncomingMessage, res: ServerResponse, opts: MetricsServerOptions): void {
  const send = (status: number, type: string, body: string) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const json = (status: number, value: unknown) => send(status, 'application/json', `${JSON.stringify(value)}\n`);
  if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') {
    res.shouldKeepAlive = false;
    return json(413, { error: 'no request body is accepted' });
  }
  if (req.headers['transfer-encoding'] !== undefined) {
    res.shouldKeepAlive = false;
    return json(413, { error: 'no request body is accepted' });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return json(405, { error: 'only GET and HEAD' });
  }
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') return json(200, { status: 'ok' });
  if (path === '/readyz') {
    let r: Readiness;
    try {
      r = opts.readiness();
    } catch {
      r = { ready: false, reason: 'readiness check failed' };
    }
    return r.ready ? json(200, { ready: true }) : json(503, { ready: false, reason: r.reason ?? 'not ready' });
  }
  if (path === '/metrics') {
    const text = opts.telemetry.prometheus();
    if (!text) return json(404, { error: 'metrics are off' });
    text.then(
      (body) => send(200, 'text/plain; version=0.0.4; charset=utf-8', body),
      () => json(500, { error: 'metrics collection failed' }),
    );
    return;
  }
  json(404, { error: 'not found: /metrics, /healthz, /readyz' });
}

/** `host:port`, `[v6]:port`. */
export function splitListen(listen: string): { host: string; port: number } {
  const m = /^(\[([0-9a-fA-F:]+)\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`metrics listen address must be host:port, got "${listen.slice(0, 100)}"`);
  return { host: m[2] ?? m[1]!, port: Number(m[3]) };
}
