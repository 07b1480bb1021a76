/**
 * The server side of a benchmark, run as its own process (`node --import=tsx bench/lib/server-child.ts`):
 * an unwrapd daemon (embedded default: local keystore, file registry, demo policy) on a temp dir and Unix
 * socket, and the bare grpc-js Echo on a second socket, in the same process so that both see the same
 * runtime conditions.
 *
 * Protocol with the parent (bench/lib/server-process.ts), one JSON object per line:
 *   stdout, once:  {"ready":true,"pid":…,"unwrapd":"unix://…","echo":"unix://…","dir":"…",…}  or  {"error":"…"}
 *   stdin  "cpu"   → stdout {"cpu":{"userUs":…,"systemUs":…},"rssBytes":…}
 *   stdin  "stop", end of stdin, SIGTERM or SIGINT → shut down, remove the temp dir, exit 0.
 *
 * Flags: --echo-only (no daemon), --echo-listen <addr>, --provider-latency-ms <n> (latency injected into
 * every root-key provider call: cold-start scenarios), --max-block-bytes <n>, --standalone (ignore stdin and
 * run until SIGTERM or SIGINT: an Echo beside a deployed sidecar, see bench/README.md), --table-daemon (a
 * second daemon whose authorization table holds 1,000 identities: the unary scenario encrypt-1k-table),
 * --telemetry (the daemon with telemetry on: metrics and its HTTP endpoint on loopback, traces at the default
 * sampling ratio into a batch processor whose exporter drops them; the unary scenarios *-otel), --window <n>
 * (the HTTP/2 receive window of every call and connection, in bytes, for the daemon and the Echo alike:
 * http2StreamWindowBytes and http2ConnectionWindowBytes; default HTTP/2's 65,535).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { DEMO_POLICY, DEMO_TENANT } from '../../src/daemon/demo.js';
import { silentLogger } from '../../src/log/logger.js';
import { instrumentProvider } from '../../test/helpers/instrumented-provider.js';
import { startEchoServer, type EchoServer } from './echo-service.js';
import { ExportResultCode } from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Takes the spans as an OTLP exporter would and drops them: tracing's cost in the daemon, without a collector. */
const droppingExporter: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: async () => {},
};

/** As src/daemon/daemon.ts sizes the daemon's messages: a block plus headroom for the envelope and fields. */
const MESSAGE_HEADROOM = 64 * 1024;

const { values } = parseArgs({
  options: {
    'echo-only': { type: 'boolean', default: false },
    'table-daemon': { type: 'boolean', default: false },
    telemetry: { type: 'boolean', default: false },
    standalone: { type: 'boolean', default: false },
    'echo-listen': { type: 'string' },
    'provider-latency-ms': { type: 'string', default: '0' },
    'max-block-bytes': { type: 'string', default: String(4 * 1024 * 1024) },
    window: { type: 'string', default: '65535' },
  },
  strict: true,
});

const send = (obj: unknown) => process.stdout.write(`${JSON.stringify(obj)}\n`);

let dir: string | undefined;
let daemon: Daemon | undefined;
let tableDaemon: Daemon | undefined;
let echo: EchoServer | undefined;
let stopping: Promise<void> | undefined;

function stop(code = 0): Promise<void> {
  stopping ??= (async () => {
    await Promise.allSettled([daemon?.shutdown(), tableDaemon?.shutdown(), echo?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
    process.exit(code);
  })();
  return stopping;
}

process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());

try {
  dir = await mkdtemp(join(tmpdir(), 'uwd-bench-'));
  const window = values.window;
  const config = {
    ...loadConfig(
      {
        'max-block-bytes': values['max-block-bytes'],
        'http2-stream-window-bytes': window,
        'http2-connection-window-bytes': window,
      },
      { UNWRAPD_DATA_DIR: dir },
    ),
    logLevel: 'silent' as const,
    demo: true,
    shutdownTimeoutMs: 2_000,
  };
  if (!values['echo-only']) {
    const latencyMs = Number(values['provider-latency-ms']);
    daemon = await startDaemon(values.telemetry ? { ...config, metricsListen: '127.0.0.1:0' } : config, {
      log: silentLogger,
      wrapProvider: (p) => instrumentProvider(p, { latencyMs }),
      ...(values.telemetry ? { telemetry: { spanExporters: [droppingExporter] } } : {}),
    });
  }
  if (!values['echo-only'] && values['table-daemon']) {
    const latencyMs = Number(values['provider-latency-ms']);
    // The same daemon again with a 1,000-identity authorization table (the cost of the check).
    const tableDir = join(dir, 't');
    const listen = `unix://${join(tableDir, 'unwrapd.sock')}`;
    const authorization = [
      ...Array.from({ length: 999 }, (_, i) => ({
        identity: `tls:spiffe://bench.example/ns/app/sa/svc-${i}`,
        roles: ['user' as const],
        tenants: [`tenant-${i}`, `tenant-${i + 1}`],
      })),
      {
        identity: `unix:${join(tableDir, 'unwrapd.sock')}`,
        roles: ['user' as const],
        tenants: Array.from({ length: 20 }, (_, i) => `tenant-${i}`).concat([DEMO_TENANT]),
      },
    ];
    tableDaemon = await startDaemon(
      {
        ...loadConfig({ 'max-block-bytes': values['max-block-bytes'] }, { UNWRAPD_DATA_DIR: tableDir }),
        logLevel: 'silent',
        demo: true,
        shutdownTimeoutMs: 2_000,
        listen,
        authorization,
      },
      { log: silentLogger, wrapProvider: (p) => instrumentProvider(p, { latencyMs }) },
    );
  }
  echo = await startEchoServer(
    values['echo-listen'] ?? `unix://${join(dir, 'echo.sock')}`,
    config.maxBlockBytes + MESSAGE_HEADROOM,
    config.http2StreamWindowBytes,
  );
  send({
    ready: true,
    pid: process.pid,
    node: process.version,
    unwrapd: daemon?.address,
    unwrapdAdmin: daemon?.adminAddress,
    unwrapdTable: tableDaemon?.address,
    metrics: daemon?.metricsAddress,
    echo: echo.address,
    dir,
    tenant: DEMO_TENANT,
    policy: DEMO_POLICY,
    maxBlockBytes: config.maxBlockBytes,
    windowBytes: config.http2StreamWindowBytes,
  });
} catch (err) {
  send({ error: err instanceof Error ? err.message : String(err) });
  await stop(1);
}

if (!values.standalone) {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ cpu: { userUs: user, systemUs: system }, rssBytes: process.memoryUsage.rss() });
    } else if (cmd === 'stop') void stop();
  });
  // The parent is gone (or done): never outlive it.
  lines.on('close', () => void stop());
}
