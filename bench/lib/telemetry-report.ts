import { ExportResultCode } from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createTelemetry } from '../../src/telemetry/create-telemetry.js';
import { noopTelemetry, type Telemetry } from '../../src/telemetry/telemetry.js';
import type { CellResult } from './interleaved-rounds.js';
import { TELEMETRY_PAIRS } from './options.js';
import { median } from './stats.js';
import { num } from './table.js';

/**
 * The cost of telemetry: each *-otel scenario (a daemon with metrics on and traces at the default sampling
 * ratio) against the same calls on the daemon with telemetry off, as ratios taken within each round (the
 * two ran back to back), then their median. The bound: p50 at most 1.05 x, ops/s at least 0.95 x.
 */
export interface TelemetryCost {
  scenario: string;
  baseline: string;
  concurrency: number;
  p50Ratio: number;
  opsRatio: number;
  p50PerRound: number[];
  opsPerRound: number[];
  pass: boolean;
}

export const TELEMETRY_BOUND = 0.05;

export function telemetryCosts(cells: readonly CellResult[]): TelemetryCost[] {
  const out: TelemetryCost[] = [];
  for (const [scenario, baseline] of TELEMETRY_PAIRS) {
    for (const on of cells.filter((c) => c.scenario === scenario)) {
      const off = cells.find((c) => c.scenario === baseline && c.concurrency === on.concurrency);
      if (!off) continue;
      const pairs = on.rounds
        .map((r) => [r, off.rounds.find((b) => b.round === r.round)] as const)
        .filter((p): p is readonly [(typeof p)[0], NonNullable<(typeof p)[1]>] => p[1] !== undefined);
      if (pairs.length === 0) continue;
      const p50PerRound = pairs.map(([r, b]) => r.p50Us / b.p50Us);
      const opsPerRound = pairs.map(([r, b]) => r.opsPerSec / b.opsPerSec);
      const p50Ratio = median(p50PerRound);
      const opsRatio = median(opsPerRound);
      out.push({
        scenario,
        baseline,
        concurrency: on.concurrency,
        p50Ratio,
        opsRatio,
        p50PerRound,
        opsPerRound,
        pass: p50Ratio <= 1 + TELEMETRY_BOUND && opsRatio >= 1 - TELEMETRY_BOUND,
      });
    }
  }
  return out;
}

export function telemetryLines(costs: readonly TelemetryCost[]): string[] {
  const range = (xs: number[]) => `${num(Math.min(...xs), 3)}-${num(Math.max(...xs), 3)}`;
  return costs.map(
    (c) =>
      `telemetry cost, ${c.scenario} vs ${c.baseline}, conc ${c.concurrency}: p50 x${num(c.p50Ratio, 3)} ` +
      `(rounds ${range(c.p50PerRound)}), ops/s x${num(c.opsRatio, 3)} (rounds ${range(c.opsPerRound)})` +
      (c.concurrency === 64
        ? `; bound p50 <= x${num(1 + TELEMETRY_BOUND, 2)} and ops/s >= x${num(1 - TELEMETRY_BOUND, 2)}: ${c.pass ? 'PASS' : 'MISS'}`
        : ''),
  );
}

/**
 * The telemetry hooks of one RPC in this process, with nothing else around them: the RPC scope (sampling
 * decision, the handler's run, the duration histogram, bytes) at the default ratio, spans going to a batch
 * processor that drops them, against the no-op seam. The difference per call is the CPU telemetry adds to
 * a call: read against the server's CPU per call, it bounds the cost even where latencies are too noisy.
 */
export async function telemetryHooksInProcess(ms: number): Promise<{ usPerCallOn: number; usPerCallOff: number }> {
  const drop: SpanExporter = {
    export: (_s, done) => done({ code: ExportResultCode.SUCCESS }),
    shutdown: async () => {},
  };
  const on = createTelemetry(
    {
      metricsListen: '127.0.0.1:0',
      traceSampleRatio: 0.01,
      metricsTenantLabels: false,
      serviceName: 'bench',
      version: '0',
    },
    {},
    { spanExporters: [drop] },
  );
  const body = async () => {};
  const run = async (t: Telemetry) => {
    let n = 0;
    const end = performance.now() + ms / 2;
    const t0 = process.cpuUsage();
    while (performance.now() < end) {
      for (let i = 0; i < 1000; i++, n++) {
        const s = t.rpc('unwrapd.v1.Crypto', 'Encrypt', undefined);
        await s.run(body);
        s.end('OK', 4096, 4200);
      }
    }
    const cpu = process.cpuUsage(t0);
    return (cpu.user + cpu.system) / n;
  };
  await run(on); // warm-up
  await run(noopTelemetry);
  const usPerCallOff = await run(noopTelemetry);
  const usPerCallOn = await run(on);
  await on.shutdown();
  return { usPerCallOn, usPerCallOff };
}

export function hooksLine(h: { usPerCallOn: number; usPerCallOff: number }, cells: readonly CellResult[]): string {
  const added = h.usPerCallOn - h.usPerCallOff;
  const server = cells.find((c) => c.scenario === 'encrypt' && c.concurrency === 64)?.median.serverCpuUsPerOp;
  return (
    `telemetry hooks in-process: +${num(added, 2)} µs CPU per call (${num(h.usPerCallOn, 2)} on, ${num(h.usPerCallOff, 2)} off)` +
    (server
      ? `, ${num((100 * added) / server, 2)}% of encrypt's server CPU per call (${num(server, 1)} µs, conc 64)`
      : '')
  );
}
