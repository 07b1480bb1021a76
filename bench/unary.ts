/**
 * `npm run bench`: unary Encrypt and Decrypt over the Unix socket beside a bare grpc-js Echo of the same
 * payload, measured side by side in one run. bench/README.md explains the options and
 * how to read the table.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnwrapdClient } from '../src/client/client.js';
import { benchEnvironment } from './lib/results-file.js';
import { createEchoClient, type EchoClient } from './lib/echo-service.js';
import { authorizationCheck } from './lib/authz-in-process.js';
import { blockCryptoInProcess } from './lib/in-process.js';
import { runInterleaved } from './lib/interleaved-rounds.js';
import { ECHO_SCENARIOS, parseBenchOptions, USAGE, UsageError, type BenchOptions } from './lib/options.js';
import { ServerProcess } from './lib/server-process.js';
import { targetLines } from './lib/throughput-report.js';
import { cacheCounters, prepareUnaryCalls } from './lib/unary-calls.js';
import { profileLines, profileShares, readMainProfile } from './lib/unary-profile.js';
import { hooksLine, telemetryCosts, telemetryHooksInProcess, telemetryLines } from './lib/telemetry-report.js';
import {
  inProcessLines,
  noiseLines,
  payloadTable,
  tableLines,
  unaryTargets,
  type PayloadResult,
} from './lib/unary-report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let interrupted = false;

async function main(opts: BenchOptions): Promise<void> {
  const startedAt = new Date();
  let server: ServerProcess | undefined;
  /** The daemon with telemetry on, in a process of its own (scenarios *-otel). */
  let otelServer: ServerProcess | undefined;
  let crypto: UnwrapdClient | undefined;
  let cryptoTable: UnwrapdClient | undefined;
  let cryptoOtel: UnwrapdClient | undefined;
  let echo: EchoClient | undefined;
  const cleanup = async () => {
    crypto?.close();
    cryptoTable?.close();
    cryptoOtel?.close();
    echo?.close();
    await Promise.all([server?.stop(), otelServer?.stop()]);
  };
  const onSignal = () => {
    // Calls are in flight: leave the clients alone, stop the server (its temp dir goes with it), exit.
    interrupted = true;
    process.stderr.write('\ninterrupted: stopping the server\n');
    void Promise.all([server?.stop(), otelServer?.stop()]).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    server?.killNow();
    otelServer?.killNow();
  });

  const results: PayloadResult[] = [];
  try {
    const maxPayload = Math.max(...opts.payloads);
    if (!opts.target) {
      const args = ['--provider-latency-ms', String(opts.providerLatencyMs)];
      // The daemon's default largest block is 4 MiB; raise it only if a payload needs more.
      if (maxPayload > 4 * 1024 * 1024) args.push('--max-block-bytes', String(maxPayload));
      if (opts.scenarios.every((s) => ECHO_SCENARIOS.includes(s))) args.push('--echo-only');
      if (opts.scenarios.includes('encrypt-1k-table')) args.push('--table-daemon');
      server = await ServerProcess.start({
        args,
        nodeArgs: opts.serverCpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.serverCpuProf}`] : [],
      });
      if (opts.scenarios.some((s) => s.endsWith('-otel')))
        otelServer = await ServerProcess.start({
          args: [...args.filter((a) => a !== '--table-daemon'), '--telemetry'],
        });
    }
    const unwrapdAddress = opts.target ?? server!.info.unwrapd;
    const echoAddress = opts.target ? opts.echoTarget : server!.info.echo;
    const tableAddress = opts.target ? undefined : server!.info.unwrapdTable;
    const otelAddress = otelServer?.info.unwrapd;
    const scenarios = opts.scenarios.filter(
      (s) =>
        (!ECHO_SCENARIOS.includes(s) || echoAddress !== undefined) &&
        (s !== 'encrypt-1k-table' || tableAddress !== undefined) &&
        (!s.endsWith('-otel') || otelAddress !== undefined),
    );
    if (scenarios.length === 0)
      throw new UsageError('nothing to measure: --scenarios echo needs an echo server (--echo-target with --target)');
    const tenant = opts.target ? opts.tenant : server!.info.tenant;
    const policy = opts.target ? opts.policy : server!.info.policy;

    // Same channel options on both clients: room for the largest payload plus the envelope and fields.
    const maxMessageBytes = maxPayload + 1024 * 1024;
    if (unwrapdAddress && scenarios.some((s) => !ECHO_SCENARIOS.includes(s))) {
      const adminAddress = opts.target ? undefined : server!.info.unwrapdAdmin;
      crypto = new UnwrapdClient(unwrapdAddress, {
        maxMessageBytes,
        deadlineMs: opts.deadlineMs,
        ...(adminAddress ? { adminAddress } : {}),
      });
      await crypto.waitForReady(10_000).catch((err: Error) => {
        throw new Error(`cannot reach unwrapd at ${unwrapdAddress}: ${err.message}`);
      });
    }
    if (tableAddress && scenarios.includes('encrypt-1k-table')) {
      cryptoTable = new UnwrapdClient(tableAddress, { maxMessageBytes, deadlineMs: opts.deadlineMs });
      await cryptoTable.waitForReady(10_000);
    }
    if (otelAddress && scenarios.some((s) => s.endsWith('-otel'))) {
      cryptoOtel = new UnwrapdClient(otelAddress, { maxMessageBytes, deadlineMs: opts.deadlineMs });
      await cryptoOtel.waitForReady(10_000);
    }
    if (echoAddress) {
      const client = (echo = createEchoClient(echoAddress, maxMessageBytes));
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + 10_000, (err) =>
          err ? reject(new Error(`cannot reach the echo at ${echoAddress}: ${err.message}`)) : resolve(),
        ),
      );
    }

    const header = [
      `unwrapd ${opts.target ? `at ${opts.target}` : `server pid ${server!.info.pid} (child, ${server!.info.node})`}` +
        `${echoAddress ? `, echo at ${echoAddress}` : ', no echo baseline'}`,
      `${opts.rounds} rounds x ${opts.durationMs} ms (+ ${opts.warmupMs} ms warm-up, discarded), deadline ${opts.deadlineMs} ms, ` +
        `client ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'})`,
    ];
    const load = loadavg()[0] ?? 0;
    if (load > cpus().length / 2) {
      header.push(
        `warning: load average ${load.toFixed(2)} on ${cpus().length} cpus before the run: other processes compete; see "other cpu %"`,
      );
    }
    process.stdout.write(`${header.join('\n')}\n`);

    for (const payloadBytes of opts.payloads) {
      const calls = await prepareUnaryCalls(
        { crypto, cryptoTable, cryptoOtel, echo, tenant, policy, deadlineMs: opts.deadlineMs },
        payloadBytes,
        scenarios,
      );
      const before = crypto && (await cacheCounters(crypto));
      const cells = [];
      for (const concurrency of opts.concurrency) {
        process.stderr.write(`payload ${payloadBytes} B, concurrency ${concurrency}: `);
        cells.push(
          ...(await runInterleaved({
            scenarios: calls,
            baseline: echo ? 'echo' : undefined,
            concurrency,
            rounds: opts.rounds,
            durationMs: opts.durationMs,
            warmupMs: opts.warmupMs,
            maxOtherCpuPct: opts.maxOtherCpuPct,
            // Both servers' CPU: the one not measured is idle, so the sum is the measured one's.
            serverCpuUs:
              server && (async () => (await server!.cpu()).cpuUs + (otelServer ? (await otelServer.cpu()).cpuUs : 0)),
            onRun: (name) => process.stderr.write(`${name} `),
          })),
        );
        process.stderr.write('\n');
      }
      const after = crypto && (await cacheCounters(crypto));
      const sample = Buffer.alloc(payloadBytes, 1);
      const inProcess =
        opts.inProcessMs > 0
          ? [...blockCryptoInProcess(sample, opts.inProcessMs), authorizationCheck(opts.inProcessMs)]
          : [];
      const result: PayloadResult = {
        payloadBytes,
        cells,
        cacheMissesDuringRuns: before && after ? after.misses - before.misses : undefined,
        inProcess,
      };
      results.push(result);

      const lines = [
        '',
        `payload ${payloadBytes} B` +
          (result.cacheMissesDuringRuns === undefined
            ? ''
            : `, cache misses during runs: ${result.cacheMissesDuringRuns}${result.cacheMissesDuringRuns === 0 ? ' (all hits)' : ''}`),
        payloadTable(result),
        ...noiseLines(result),
        ...inProcessLines(inProcess),
      ];
      lines.push(...tableLines(result));
      const costs = telemetryCosts(cells);
      lines.push(...telemetryLines(costs));
      if (costs.length > 0 && opts.inProcessMs > 0) {
        lines.push(hooksLine(await telemetryHooksInProcess(opts.inProcessMs), cells));
      }
      lines.push(...targetLines(unaryTargets(result, opts.targetRatio)));
      process.stdout.write(`${lines.join('\n')}\n`);
    }

    if (opts.json) {
      const doc = {
        bench: 'unary',
        schema: 1,
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        gitCommit: gitCommit(),
        environment: benchEnvironment(),
        options: opts,
        server: opts.target
          ? { mode: 'target', unwrapd: opts.target, echo: opts.echoTarget }
          : { mode: 'child', ...server!.info },
        results: results.map((r) => ({
          ...r,
          targets: unaryTargets(r, opts.targetRatio),
          telemetryCost: telemetryCosts(r.cells),
        })),
      };
      await mkdir(dirname(opts.json), { recursive: true });
      await writeFile(opts.json, `${JSON.stringify(doc, null, 2)}\n`);
      process.stdout.write(`\nresults: ${opts.json}\n`);
    }
  } finally {
    await cleanup();
    // The child writes its profile as it exits: read it now that it has.
    if (opts.serverCpuProf && results.length > 0) await printProfile(opts.serverCpuProf, results, opts);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/**
 * The server CPU profile's breakdown per scenario (bench/lib/unary-profile.ts). With one payload size and one
 * concurrency, each share also in µs per call, from the run's `srv cpu µs/op`.
 */
async function printProfile(dir: string, results: PayloadResult[], opts: BenchOptions): Promise<void> {
  const profile = await readMainProfile(dir).catch(() => undefined);
  if (!profile) return;
  // The split tells scenarios apart by request type and handler; the floors share the echo's type and the
  // daemon's crypto functions, so their samples would be counted as the echo's or the daemon's.
  if (opts.scenarios.some((s) => s === 'seal-echo' || s === 'open-echo'))
    process.stdout.write(
      '\nnote: the profile split below cannot tell seal-echo and open-echo from echo, encrypt and decrypt; ' +
        'profile with --scenarios echo,encrypt,decrypt\n',
    );
  const cpu = new Map<string, number>();
  if (results.length === 1 && opts.concurrency.length === 1)
    for (const c of results[0]!.cells)
      if (c.median.serverCpuUsPerOp !== undefined) cpu.set(c.scenario, c.median.serverCpuUsPerOp);
  process.stdout.write(`\n${profileLines(profileShares(profile), cpu).join('\n')}\n`);
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

try {
  const opts = parseBenchOptions(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
  } else {
    await main(opts);
  }
} catch (err) {
  if (interrupted) {
    // The calls failed because of the interruption; the signal handler exits.
  } else if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
