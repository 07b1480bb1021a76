/**
 * `npm run bench:throughput`: the throughput paths beside their baselines, in one run:
 * EncryptBatch/DecryptBatch items per second against unary calls of one item (and a unary Echo of
 * one batch's bytes); EncryptStream/DecryptStream MiB/s for one large file against a bare grpc-js streaming
 * Echo of the same bytes; raw AES-256-GCM and unwrapd's own sealers in-process; a cold start under load with
 * a provider of configurable latency. `npm run bench:all` runs it after the unary benchmark. bench/README.md
 * explains how to read it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnwrapdClient } from '../src/client/client.js';
import { benchEnvironment } from './lib/results-file.js';
import { prepareBatchCalls } from './lib/batch-calls.js';
import { runColdStart, type ColdResult } from './lib/cold-start.js';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../src/config/settings-streams.js';
import { createEchoClient, type EchoClient } from './lib/echo-service.js';
import { rawAesGcm, type InProcessResult } from './lib/in-process.js';
import { runInterleaved } from './lib/interleaved-rounds.js';
import { UsageError } from './lib/options.js';
import { ServerProcess } from './lib/server-process.js';
import { runStreamRounds, type StreamCell } from './lib/stream-runs.js';
import { batchItemInProcess, streamInProcess, type StreamInProcess } from './lib/throughput-in-process.js';
import { parseThroughputOptions, THROUGHPUT_USAGE, type ThroughputOptions } from './lib/throughput-options.js';
import {
  batchTable,
  coldTable,
  inProcessBatchLines,
  streamTable,
  targetLines,
  throughputTargets,
  type BatchCell,
  type TargetResult,
} from './lib/throughput-report.js';

export interface ThroughputDoc {
  bench: 'throughput';
  schema: 1;
  startedAt: string;
  finishedAt: string;
  environment: Record<string, unknown>;
  options: ThroughputOptions;
  server: Record<string, unknown>;
  batch: { itemBytes: number; cells: BatchCell[]; inProcess: InProcessResult[] } | undefined;
  stream: { bytes: number; chunkBytes: number; cells: StreamCell[]; inProcess: StreamInProcess[] } | undefined;
  cold: ColdResult | { skipped: string } | undefined;
  targets: TargetResult[];
}

const out = (s: string) => process.stdout.write(`${s}\n`);
const progress = (s: string) => process.stderr.write(s);

/** Runs the sections chosen in `opts`, prints their tables, writes the JSON (unless --no-json), returns it. */
export async function runThroughput(
  opts: ThroughputOptions,
  hooks: { onServer?: (s: ServerProcess) => void } = {},
): Promise<ThroughputDoc> {
  const startedAt = new Date();
  let server: ServerProcess | undefined;
  let crypto: UnwrapdClient | undefined;
  let echo: EchoClient | undefined;
  try {
    if (!opts.target) {
      server = await ServerProcess.start({
        args: ['--provider-latency-ms', String(opts.providerLatencyMs), '--window', String(opts.serverWindowBytes)],
        nodeArgs: opts.serverCpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.serverCpuProf}`] : [],
      });
      hooks.onServer?.(server);
    }
    const unwrapdAddress = opts.target ?? server!.info.unwrapd!;
    const echoAddress = opts.target ? opts.echoTarget : server!.info.echo;
    const tenant = opts.target ? opts.tenant : server!.info.tenant;
    const policy = opts.target ? opts.policy : server!.info.policy;
    const largest = Math.max(opts.itemBytes * Math.max(...opts.batchSizes), opts.chunkBytes, 4 * 1024 * 1024);
    const maxMessageBytes = largest + 2 * 1024 * 1024;
    const adminAddress = opts.target ? undefined : server!.info.unwrapdAdmin;
    crypto = new UnwrapdClient(unwrapdAddress, {
      maxMessageBytes,
      deadlineMs: opts.deadlineMs,
      ...(adminAddress ? { adminAddress } : {}),
      ...(opts.clientWindowBytes ? { receiveWindowBytes: opts.clientWindowBytes } : {}),
    });
    await crypto.waitForReady(10_000).catch((err: Error) => {
      throw new Error(`cannot reach unwrapd at ${unwrapdAddress}: ${err.message}`);
    });
    if (echoAddress) {
      const client = (echo = createEchoClient(echoAddress, maxMessageBytes, opts.clientWindowBytes));
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
      );
    }
    out(
      `throughput: unwrapd ${opts.target ? `at ${opts.target}` : `server pid ${server!.info.pid} (child, provider latency ${opts.providerLatencyMs} ms)`}` +
        `${echoAddress ? `, echo at ${echoAddress}` : ', no echo baseline'}; client ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'})` +
        `; HTTP/2 receive windows: server ${opts.target ? 'its own' : server!.info.windowBytes}, clients ${opts.clientWindowBytes ?? HTTP2_DEFAULT_WINDOW_BYTES}`,
    );
    const serverCpuUs = server && (async () => (await server!.cpu()).cpuUs);

    let batch: ThroughputDoc['batch'];
    if (opts.sections.includes('batch')) {
      const calls = await prepareBatchCalls(
        { crypto, echo, tenant, policy, deadlineMs: opts.deadlineMs },
        opts.itemBytes,
        opts.batchSizes,
      );
      const cells: BatchCell[] = [];
      for (const concurrency of opts.concurrency) {
        for (const [kind, list] of [
          ['encrypt', calls.encrypt],
          ['decrypt', calls.decrypt],
        ] as const) {
          progress(`batch ${kind}, concurrency ${concurrency}: `);
          const res = await runInterleaved({
            scenarios: list,
            baseline: `unary ${kind}`,
            concurrency,
            rounds: opts.rounds,
            durationMs: opts.durationMs,
            warmupMs: opts.warmupMs,
            ...(serverCpuUs ? { serverCpuUs } : {}),
            onRun: (name) => progress(`${name.replace(/ (en|de)crypt$/, '')} `),
          });
          progress('\n');
          for (const cell of res) cells.push({ ...cell, items: list.find((c) => c.name === cell.scenario)!.items });
        }
      }
      const inProcess = opts.sections.includes('inprocess')
        ? [rawAesGcm(Buffer.alloc(opts.itemBytes, 1), 500), batchItemInProcess(opts.itemBytes, 500)]
        : [];
      batch = { itemBytes: opts.itemBytes, cells, inProcess };
      out(
        `\nbatch: ${opts.itemBytes} B items; items ratio = items/s over unary items/s of the same kind, same round and concurrency`,
      );
      out(batchTable(cells));
      for (const line of inProcessBatchLines(inProcess)) out(line);
    }

    let stream: ThroughputDoc['stream'];
    if (opts.sections.includes('stream')) {
      progress(`stream ${opts.streamBytes / 1024 / 1024} MiB: `);
      const cells = await runStreamRounds(
        { crypto, echo, tenant, policy },
        {
          bytes: opts.streamBytes,
          chunkBytes: opts.chunkBytes,
          rounds: opts.streamRounds,
          ...(serverCpuUs ? { serverCpuUs } : {}),
          onRun: (r) => progress(`${r.scenario.replace(' stream', '')} `),
        },
      );
      progress('\n');
      const inProcess = opts.sections.includes('inprocess')
        ? streamInProcess(Math.min(opts.streamBytes, 256 * 1024 * 1024), 64 * 1024)
        : [];
      stream = { bytes: opts.streamBytes, chunkBytes: opts.chunkBytes, cells, inProcess };
      out(
        `\nstream: ${opts.streamBytes / 1024 / 1024} MiB per stream, ${opts.chunkBytes / 1024} KiB messages sent; MiB/s of content, median of ${opts.streamRounds} rounds; ratio per round`,
      );
      out(streamTable(cells, inProcess));
    }

    let cold: ThroughputDoc['cold'];
    if (opts.sections.includes('cold')) {
      try {
        cold = await runColdStart(
          crypto,
          {
            tenant,
            policy,
            deadlineMs: opts.deadlineMs,
            providerLatencyMs: opts.target ? undefined : opts.providerLatencyMs,
          },
          opts.coldCalls,
          opts.coldRounds,
        );
        out(
          `\ncold start: provider latency ${opts.target ? 'of the target' : `${opts.providerLatencyMs} ms`}, median of ${opts.coldRounds} bursts`,
        );
        out(coldTable(cold));
      } catch (err) {
        cold = { skipped: err instanceof Error ? err.message : String(err) };
        out(`\ncold start skipped: ${cold.skipped} (it needs Admin.Evict and GetStatus: the admin role)`);
      }
    }

    const targets = throughputTargets(batch?.cells ?? [], stream?.cells ?? []);
    out('');
    for (const line of targetLines(targets)) out(line);

    const doc: ThroughputDoc = {
      bench: 'throughput',
      schema: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      environment: benchEnvironment(),
      options: opts,
      server: opts.target
        ? { mode: 'target', unwrapd: opts.target, echo: opts.echoTarget }
        : { mode: 'child', ...server!.info },
      batch,
      stream,
      cold,
      targets,
    };
    if (opts.json) {
      await mkdir(dirname(opts.json), { recursive: true });
      await writeFile(opts.json, `${JSON.stringify(doc, null, 2)}\n`);
      out(`\nresults: ${opts.json}`);
    }
    return doc;
  } finally {
    crypto?.close();
    echo?.close();
    await server?.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let server: ServerProcess | undefined;
  const onSignal = () => {
    process.stderr.write('\ninterrupted: stopping the server\n');
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => server?.killNow());
  try {
    const opts = parseThroughputOptions(process.argv.slice(2));
    if (opts === 'help') out(THROUGHPUT_USAGE);
    else await runThroughput(opts, { onServer: (s) => (server = s) });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n${THROUGHPUT_USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
