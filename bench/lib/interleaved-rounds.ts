import { runClosedLoop, type Call } from './closed-loop.js';
import { CPU_COUNT, machineBusyUs } from './machine-cpu.js';
import { median, minMax, summarizeNs, type LatencySummary } from './stats.js';

/**
 * Runs several scenarios side by side: a discarded warm-up round, then `rounds` rounds in which every
 * scenario runs back to back, the order reversed every other round so that drift (thermal, GC, a noisy
 * neighbour) does not always favour the same one. Statistics are reported as the median across rounds;
 * ratios to the baseline are computed within each round, then their median taken.
 */

export interface NamedCall {
  name: string;
  call: Call;
}

export interface RoundStat extends LatencySummary {
  round: number;
  /** Position in the round's order (0 = ran first). */
  position: number;
  opsPerSec: number;
  elapsedMs: number;
  /** Server process CPU time per call (user + system), when the server is ours. */
  serverCpuUsPerOp: number | undefined;
  /** Bench process CPU time per call: the client side's cost. */
  clientCpuUsPerOp: number;
  /**
   * Share of the machine's total CPU capacity (all cores) that other processes used during the run, in
   * percent (Linux only). With a --target on the same machine, the target server is counted here.
   */
  otherCpuPct: number | undefined;
}

export interface RatioStat {
  perRound: number[];
  median: number;
  min: number;
  max: number;
}

export interface CellResult {
  scenario: string;
  concurrency: number;
  rounds: RoundStat[];
  median: {
    p50Us: number;
    p90Us: number;
    p99Us: number;
    p999Us: number;
    meanUs: number;
    opsPerSec: number;
    serverCpuUsPerOp: number | undefined;
    clientCpuUsPerOp: number;
    otherCpuPct: number | undefined;
  };
  /** Rounds measured but thrown away because other processes took more than `maxOtherCpuPct` of the machine. */
  discardedRounds: RoundStat[];
  /** Against the baseline scenario of the same round; absent for the baseline itself or without one. */
  ratio?: { p50: RatioStat; p99: RatioStat; opsPerSec: RatioStat };
}

export interface InterleavedOptions {
  scenarios: NamedCall[];
  /** Name of the scenario the others are compared with (the echo). */
  baseline: string | undefined;
  concurrency: number;
  rounds: number;
  durationMs: number;
  warmupMs: number;
  /** Server CPU time so far, in µs (undefined when the server is not ours). */
  serverCpuUs?: () => Promise<number>;
  /**
   * A round in which any run saw other processes use more than this share of the machine (percent, see
   * RoundStat.otherCpuPct) is measured again, up to `rounds` extra times; undefined: keep every round.
   */
  maxOtherCpuPct?: number;
  /** Called after each measured run, e.g. for progress output. */
  onRun?: (name: string, stat: RoundStat) => void;
}

export async function runInterleaved(opts: InterleavedOptions): Promise<CellResult[]> {
  const { scenarios, concurrency } = opts;
  const expectedCalls = Math.ceil(opts.durationMs * 20 * Math.max(1, Math.min(concurrency, 4)));

  if (opts.warmupMs > 0) {
    for (const s of scenarios) {
      const res = await runClosedLoop(s.call, { concurrency, durationMs: opts.warmupMs, expectedCalls });
      if (res.firstError) throw callFailed(s.name, res.firstError);
    }
  }

  const stats = new Map<string, RoundStat[]>(scenarios.map((s) => [s.name, []]));
  const discarded = new Map<string, RoundStat[]>(scenarios.map((s) => [s.name, []]));
  let retriesLeft = opts.maxOtherCpuPct === undefined ? 0 : opts.rounds;
  for (let round = 0; round < opts.rounds;) {
    // Kept rounds alternate; a re-measured round keeps the order of the one it replaces.
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    const runs: [string, RoundStat][] = [];
    for (let position = 0; position < order.length; position++) {
      const s = order[position]!;
      const server0 = await opts.serverCpuUs?.();
      const client0 = process.cpuUsage();
      const machine0 = machineBusyUs();
      const res = await runClosedLoop(s.call, { concurrency, durationMs: opts.durationMs, expectedCalls });
      const machine1 = machineBusyUs();
      const client = process.cpuUsage(client0);
      const server1 = await opts.serverCpuUs?.();
      if (res.firstError) throw callFailed(s.name, res.firstError);
      const n = Math.max(1, res.completed);
      const clientUs = client.user + client.system;
      const serverUs = server0 !== undefined && server1 !== undefined ? server1 - server0 : undefined;
      const otherUs =
        machine0 !== undefined && machine1 !== undefined ? machine1 - machine0 - clientUs - (serverUs ?? 0) : undefined;
      const stat: RoundStat = {
        round,
        position,
        ...summarizeNs(res.latenciesNs),
        opsPerSec: res.opsPerSec,
        elapsedMs: res.elapsedNs / 1e6,
        serverCpuUsPerOp: serverUs === undefined ? undefined : serverUs / n,
        clientCpuUsPerOp: clientUs / n,
        otherCpuPct:
          otherUs === undefined ? undefined : Math.max(0, (100 * otherUs) / (res.elapsedNs / 1e3) / CPU_COUNT),
      };
      runs.push([s.name, stat]);
      opts.onRun?.(s.name, stat);
    }
    const noisy =
      opts.maxOtherCpuPct !== undefined && runs.some(([, r]) => (r.otherCpuPct ?? 0) > opts.maxOtherCpuPct!);
    if (noisy && retriesLeft > 0) {
      retriesLeft--;
      for (const [name, r] of runs) discarded.get(name)!.push(r);
      continue;
    }
    for (const [name, r] of runs) stats.get(name)!.push(r);
    round++;
  }

  const base = opts.baseline !== undefined ? stats.get(opts.baseline) : undefined;
  return scenarios.map((s) => {
    const rounds = stats.get(s.name)!;
    const med = (f: (r: RoundStat) => number) => median(rounds.map(f));
    const cell: CellResult = {
      scenario: s.name,
      concurrency,
      rounds,
      discardedRounds: discarded.get(s.name)!,
      median: {
        p50Us: med((r) => r.p50Us),
        p90Us: med((r) => r.p90Us),
        p99Us: med((r) => r.p99Us),
        p999Us: med((r) => r.p999Us),
        meanUs: med((r) => r.meanUs),
        opsPerSec: med((r) => r.opsPerSec),
        serverCpuUsPerOp: rounds[0]?.serverCpuUsPerOp === undefined ? undefined : med((r) => r.serverCpuUsPerOp!),
        clientCpuUsPerOp: med((r) => r.clientCpuUsPerOp),
        otherCpuPct: rounds[0]?.otherCpuPct === undefined ? undefined : med((r) => r.otherCpuPct!),
      },
    };
    if (base && s.name !== opts.baseline) {
      const byRound = (f: (r: RoundStat) => number) =>
        ratioStat(rounds.map((r) => f(r) / f(base.find((b) => b.round === r.round)!)));
      cell.ratio = {
        p50: byRound((r) => r.p50Us),
        p99: byRound((r) => r.p99Us),
        opsPerSec: byRound((r) => r.opsPerSec),
      };
    }
    return cell;
  });
}

function ratioStat(perRound: number[]): RatioStat {
  return { perRound, median: median(perRound), ...minMax(perRound) };
}

function callFailed(name: string, err: Error): Error {
  const e = err as Error & { code?: number; details?: string };
  return new Error(
    `${name} call failed${e.code !== undefined ? ` (gRPC code ${e.code})` : ''}: ${e.details ?? e.message}`,
    { cause: err },
  );
}
