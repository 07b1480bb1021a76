import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { num } from './table.js';

/**
 * Where the server child's CPU went, per scenario, from its V8 CPU profile (`--server-cpu-prof`): every sample
 * of the main thread goes to the first category found walking its stack up from the leaf; a grpc-js, HTTP/2,
 * stream or event frame ends the walk (what grpc-js does on the handler's behalf, such as sending the response,
 * is grpc-js's). The profile does not say which scenario ran when: each 500 ms of it belongs to the scenario
 * whose request type (or handler) its samples show most. bench/README.md has the figures and how to read them.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The categories, in the order a frame is tested against them. */
const CATEGORIES: [string, RegExp][] = [
  ['crypto: sealBlock / parse + openBlock', /^(sealBlock|openBlock|parseEnvelopeFor|parseEnvelope) .*src\/crypto\//],
  [
    'registry + cache look-up, policy checks',
    /^(withKey|writable|readable|check|peek|requirePolicy|parse) .*src\/(core|cache)\//,
  ],
  [
    'caller check + field validation',
    /^(unaryCryptoInput|cryptoCaller|callerFields|requireId|requireBytes|envelopeField|policy|ofEnvelope) .*src\/server\//,
  ],
  ['core call frames (encrypt/decrypt, results)', /^(encrypt|decrypt|seal|open) .*src\/core\//],
  [
    'request decode (wire scan + protobufjs)',
    /(requestDeserialize|deserialize .*proto-loader|src\/server\/wire-scan|\$decode|\$toObject)/,
  ],
  ['response encode (protobufjs)', /(serialize .*proto-loader|\$encode|\$fromObject)/],
  [
    'unary wrapper, call signal, request context',
    /src\/(server\/(unary|call-signal|crypto-handlers)|log\/request-context)/,
  ],
  ['request-limits interceptor', /src\/server\/request-limits/],
  ['echo handler', /bench\/lib\/echo-service/],
];
const TRANSPORT = /(@grpc\/grpc-js|node:internal\/(http2|streams|stream_base)|node:events|node:net)/;
const REST = 'grpc-js, HTTP/2, event loop (the rest)';
const GC = 'garbage collector';

/** What marks a sample as one scenario's: its request type's decoding, or its handler's own work. */
const SCENARIO_MARKS: Record<string, RegExp> = {
  echo: /(EchoMessage\$decode|bench\/lib\/echo-service)/,
  encrypt: /(EncryptRequest\$decode|^sealBlock )/,
  decrypt: /(DecryptRequest\$decode|^openBlock )/,
};
const BUCKET_US = 500_000;

export interface ProfileShare {
  category: string;
  /** Share of the scenario's busy (non-idle) server CPU. */
  share: number;
}

/** Shares of busy CPU per category, per scenario found in the profile (echo, encrypt, decrypt). */
export function profileShares(p: CpuProfile): Map<string, ProfileShare[]> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frame = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName} ${f.url}`;
  };
  const scenarios = Object.keys(SCENARIO_MARKS);
  const markMemo = new Map<number, number>();
  const markOf = (id: number): number => {
    let v = markMemo.get(id);
    if (v !== undefined) return v;
    const s = frame(id);
    v = scenarios.findIndex((k) => SCENARIO_MARKS[k]!.test(s));
    const up = parent.get(id);
    if (v < 0 && up !== undefined) v = markOf(up);
    markMemo.set(id, v);
    return v;
  };
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) times.push((t += p.timeDeltas[i] ?? 0));
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < p.samples.length; i++) {
    const m = markOf(p.samples[i]!);
    if (m < 0) continue;
    const b = Math.floor(times[i]! / BUCKET_US);
    const counts = buckets.get(b) ?? scenarios.map(() => 0);
    counts[m]!++;
    buckets.set(b, counts);
  }
  const scenarioOf = (time: number): number => {
    const counts = buckets.get(Math.floor(time / BUCKET_US));
    if (!counts) return -1;
    const best = Math.max(...counts);
    return best >= 2 ? counts.indexOf(best) : -1;
  };
  const categoryOf = (leaf: number): string => {
    if (byId.get(leaf)!.callFrame.functionName === '(garbage collector)') return GC;
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const s = frame(id);
      for (const [name, re] of CATEGORIES) if (re.test(s)) return name;
      if (TRANSPORT.test(s)) break;
    }
    return REST;
  };
  const sums = scenarios.map(() => new Map<string, number>());
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)' || name === '(root)') continue;
    const s = scenarioOf(times[i]!);
    if (s < 0) continue;
    const c = categoryOf(id);
    sums[s]!.set(c, (sums[s]!.get(c) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const out = new Map<string, ProfileShare[]>();
  sums.forEach((m, s) => {
    const busy = [...m.values()].reduce((a, b) => a + b, 0);
    if (busy === 0) return;
    out.set(
      scenarios[s]!,
      [...m].map(([category, us]) => ({ category, share: us / busy })).sort((a, b) => b.share - a.share),
    );
  });
  return out;
}

/** The main thread's profile in `dir` (its name has `.0.`; the other is tsx's loader thread). */
export async function readMainProfile(dir: string): Promise<CpuProfile | undefined> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile') && n.includes('.0.')).sort();
  const last = names.at(-1);
  return last ? (JSON.parse(await readFile(join(dir, last), 'utf8')) as CpuProfile) : undefined;
}

/**
 * The report: per scenario, each category's share of its busy server CPU and, with `cpuUsPerOp` (the run's
 * `srv cpu µs/op` of that scenario), the µs per call it stands for.
 */
export function profileLines(shares: Map<string, ProfileShare[]>, cpuUsPerOp: Map<string, number>): string[] {
  const lines: string[] = [];
  for (const [scenario, list] of shares) {
    const us = cpuUsPerOp.get(scenario);
    lines.push(`server CPU of ${scenario} by where it went${us === undefined ? '' : ` (${num(us, 1)} µs/op)`}:`);
    for (const { category, share } of list) {
      const pct = `${(100 * share).toFixed(1)} %`.padStart(7);
      lines.push(`  ${pct}${us === undefined ? '' : `  ${num(us * share, 1).padStart(7)} µs`}  ${category}`);
    }
  }
  return lines;
}
