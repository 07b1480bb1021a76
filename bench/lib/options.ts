import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * `seal-echo`, `open-echo`: the crypto floor, served by the echo server (bench/echo.proto SealEcho / OpenEcho):
 * the echo plus the single-block seal or open an Encrypt or Decrypt does, and nothing else. What Encrypt and
 * Decrypt would score if the daemon's work beyond the format's crypto cost nothing.
 * `encrypt-1k-table`: Encrypt on a second daemon whose authorization table holds 1,000 identities.
 * `encrypt-otel`, `decrypt-otel`: the same calls on a daemon in a server process of its own with telemetry on
 * (metrics and the /metrics endpoint, traces at the default sampling ratio): the cost of telemetry.
 */
export type Scenario =
  'echo' | 'seal-echo' | 'open-echo' | 'encrypt' | 'decrypt' | 'encrypt-1k-table' | 'encrypt-otel' | 'decrypt-otel';
export const SCENARIOS: readonly Scenario[] = [
  'echo',
  'seal-echo',
  'open-echo',
  'encrypt',
  'decrypt',
  'encrypt-1k-table',
  'encrypt-otel',
  'decrypt-otel',
];
/** The scenarios the echo server answers (the baseline and the crypto floor). */
export const ECHO_SCENARIOS: readonly Scenario[] = ['echo', 'seal-echo', 'open-echo'];
/** Each crypto-floor scenario and the unwrapd scenario it is the floor of. */
export const FLOOR_OF: Partial<Record<Scenario, Scenario>> = { encrypt: 'seal-echo', decrypt: 'open-echo' };

/** The telemetry-on scenarios and the telemetry-off one each is compared with. */
export const TELEMETRY_PAIRS: readonly (readonly [Scenario, Scenario])[] = [
  ['encrypt-otel', 'encrypt'],
  ['decrypt-otel', 'decrypt'],
];

export interface BenchOptions {
  durationMs: number;
  warmupMs: number;
  rounds: number;
  concurrency: number[];
  payloads: number[];
  scenarios: Scenario[];
  /** Address of a running unwrapd; when set, no server child is started. */
  target: string | undefined;
  /** Address of an Echo server (bench/echo.proto) to compare against a --target. */
  echoTarget: string | undefined;
  tenant: string;
  policy: string;
  deadlineMs: number;
  /** The bound of the p50 targets: Encrypt and Decrypt p50 at most this times the echo p50, concurrency 1. */
  targetRatio: number;
  /** Where the JSON goes; undefined with --no-json. */
  json: string | undefined;
  inProcessMs: number;
  /** Directory for a V8 CPU profile of the server child (`node --cpu-prof`). */
  serverCpuProf: string | undefined;
  providerLatencyMs: number;
  /** Re-measure a round in which other processes used more than this % of the machine; undefined: never. */
  maxOtherCpuPct: number | undefined;
}

export const USAGE = `usage: npm run bench -- [options]
  --duration-ms <n>        measured time of each scenario in each round (default 2000)
  --warmup-ms <n>          time of each scenario in the discarded warm-up round (default 1000; 0 = none)
  --rounds <n>             measured rounds, order alternating (default 3)
  --concurrency <list>     closed-loop workers, comma-separated (default 1,64)
  --payload <list>         payload sizes in bytes, comma-separated; k/m suffixes allowed (default 4096)
  --scenarios <list>       of echo,seal-echo,open-echo,encrypt,decrypt,encrypt-1k-table,encrypt-otel,
                           decrypt-otel (default all; seal-echo/open-echo: the echo plus the block
                           seal/open of Encrypt/Decrypt and nothing else, the crypto floor; encrypt-1k-table: Encrypt on a second daemon with a 1,000-identity
                           authorization table; *-otel: on a daemon in its own process with telemetry
                           on, compared with encrypt/decrypt; neither with --target)
  --target <addr>          measure a running unwrapd (unix:///path.sock or host:port); starts no server
  --echo-target <addr>     an Echo server (bench/echo.proto) to compare a --target with
  --tenant <id>            tenant of the calls (default demo)
  --policy <id>            policy of the Encrypt calls (default demo-mailbox)
  --max-other-cpu <pct>    re-measure a round in which other processes used more than <pct> % of the
                           machine (Linux; at most --rounds extra rounds; default: keep every round)
  --deadline-ms <n>        deadline set on every call, echo included (default 30000)
  --target-ratio <x>       the targets' bound on Encrypt and Decrypt p50 / echo p50 at concurrency 1 (default 1.10)
  --json <file>            results file (default bench/results/unary-<timestamp>.json)
  --no-json                write no results file
  --in-process-ms <n>      time of each in-process baseline (default 1000; 0 = skip)
  --server-cpu-prof <dir>  write a V8 CPU profile of the server child into <dir>, and print where its CPU went
  --provider-latency-ms <n> latency injected into root-key provider calls of the server child (default 0)
  -h, --help`;

export class UsageError extends Error {
  override name = 'UsageError';
}

function int(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

/** "4096", "4k", "1m" (binary multiples). */
export function parseSize(raw: string): number {
  const m = /^(\d+)([kKmM]?)(i?[bB])?$/.exec(raw.trim());
  if (!m) throw new UsageError(`--payload takes sizes like 4096, 4k or 1m, got "${raw}"`);
  const mult = m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1024 * 1024;
  const n = Number(m[1]) * mult;
  if (n < 1) throw new UsageError('--payload sizes must be at least 1 byte');
  return n;
}

function list<T>(raw: string, each: (s: string) => T): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`empty list "${raw}"`);
  return items.map(each);
}

function address(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^unix:\/\/\/./.test(raw) && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(raw)) {
    throw new UsageError(`--${name} must be unix:///path.sock or host:port, got "${raw}"`);
  }
  return raw;
}

export function parseBenchOptions(args: string[], now = new Date()): BenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        'duration-ms': { type: 'string', default: '2000' },
        'warmup-ms': { type: 'string', default: '1000' },
        rounds: { type: 'string', default: '3' },
        concurrency: { type: 'string', default: '1,64' },
        payload: { type: 'string', default: '4096' },
        scenarios: { type: 'string', default: SCENARIOS.join(',') },
        target: { type: 'string' },
        'echo-target': { type: 'string' },
        tenant: { type: 'string', default: 'demo' },
        policy: { type: 'string', default: 'demo-mailbox' },
        'deadline-ms': { type: 'string', default: '30000' },
        'max-other-cpu': { type: 'string' },
        'target-ratio': { type: 'string', default: '1.10' },
        json: { type: 'string' },
        'no-json': { type: 'boolean', default: false },
        'in-process-ms': { type: 'string', default: '1000' },
        'server-cpu-prof': { type: 'string' },
        'provider-latency-ms': { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';

  const scenarios = list(values.scenarios, (s) => {
    if (!(SCENARIOS as readonly string[]).includes(s))
      throw new UsageError(`--scenarios: unknown scenario "${s}" (${SCENARIOS.join(', ')})`);
    return s as Scenario;
  });
  const target = address('target', values.target);
  const echoTarget = address('echo-target', values['echo-target']);
  if (echoTarget && !target)
    throw new UsageError('--echo-target goes with --target (without --target the bench starts its own echo)');
  if (values['server-cpu-prof'] && target)
    throw new UsageError('--server-cpu-prof profiles the server the bench starts; it does not go with --target');
  const targetRatio = Number(values['target-ratio']);
  if (!(targetRatio > 0))
    throw new UsageError(`--target-ratio must be a positive number, got "${values['target-ratio']}"`);
  const maxOther = values['max-other-cpu'];
  const maxOtherCpuPct = maxOther === undefined ? undefined : Number(maxOther);
  if (maxOtherCpuPct !== undefined && !(maxOtherCpuPct >= 0 && maxOtherCpuPct <= 100)) {
    throw new UsageError(`--max-other-cpu must be a percentage from 0 to 100, got "${maxOther}"`);
  }
  const stamp = now.toISOString().replace(/[:.]/g, '-');

  return {
    durationMs: int('duration-ms', values['duration-ms'], 1),
    warmupMs: int('warmup-ms', values['warmup-ms'], 0),
    rounds: int('rounds', values.rounds, 1),
    concurrency: list(values.concurrency, (s) => int('concurrency', s, 1)),
    payloads: list(values.payload, parseSize),
    scenarios: [...new Set(scenarios)],
    target,
    echoTarget,
    tenant: values.tenant,
    policy: values.policy,
    deadlineMs: int('deadline-ms', values['deadline-ms'], 1),
    targetRatio,
    json: values['no-json']
      ? undefined
      : values.json
        ? resolve(values.json)
        : fileURLToPath(new URL(`../results/unary-${stamp}.json`, import.meta.url)),
    inProcessMs: int('in-process-ms', values['in-process-ms'], 0),
    serverCpuProf: values['server-cpu-prof'],
    providerLatencyMs: int('provider-latency-ms', values['provider-latency-ms'], 0),
    maxOtherCpuPct,
  };
}
