import { HTTP2_DEFAULT_WINDOW_BYTES, HTTP2_MAX_STREAM_WINDOW_BYTES } from '../../src/config/settings-streams.js';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSize, UsageError } from './options.js';

export type Section = 'batch' | 'stream' | 'cold' | 'inprocess';
export const SECTIONS: readonly Section[] = ['batch', 'stream', 'cold', 'inprocess'];

export interface ThroughputOptions {
  sections: Section[];
  /** Batch section: measured time of each scenario in each round, warm-up, rounds, concurrency. */
  durationMs: number;
  warmupMs: number;
  rounds: number;
  concurrency: number[];
  itemBytes: number;
  batchSizes: number[];
  /** Stream section: bytes per stream, chunk size of the messages, rounds. */
  streamBytes: number;
  chunkBytes: number;
  streamRounds: number;
  /** Cold-start section: concurrent calls per burst, bursts. */
  coldCalls: number;
  coldRounds: number;
  providerLatencyMs: number;
  target: string | undefined;
  echoTarget: string | undefined;
  tenant: string;
  policy: string;
  deadlineMs: number;
  /** HTTP/2 receive window of the server child's daemon and Echo, per call and per connection (bytes). */
  serverWindowBytes: number;
  /** HTTP/2 receive window of the bench's clients (unwrapd's and the Echo's); undefined: grpc-js's 65,535. */
  clientWindowBytes: number | undefined;
  /** Directory for a V8 CPU profile of the server child (`node --cpu-prof`). */
  serverCpuProf: string | undefined;
  json: string | undefined;
}

export const THROUGHPUT_USAGE = `usage: npm run bench:throughput -- [options]
  --sections <list>          of batch,stream,cold,inprocess (default all)
  --duration-ms <n>          batch: measured time of each scenario in each round (default 700)
  --warmup-ms <n>            batch: time of each scenario in the discarded warm-up round (default 200)
  --rounds <n>               batch: measured rounds, order alternating (default 3)
  --concurrency <list>       batch: closed-loop workers, comma-separated (default 1,16)
  --item-bytes <size>        batch: bytes per item, and the unary payload compared (default 4k)
  --batch-sizes <list>       batch: items per call (default 16,64,256)
  --stream-bytes <size>      stream: bytes per stream (default 256m)
  --chunk-bytes <size>       stream: bytes per message sent, for unwrapd and the echo alike (default 64k)
  --stream-rounds <n>        stream: measured rounds of echo, encrypt and decrypt, order alternating (default 3)
  --cold-calls <n>           cold start: concurrent Encrypt calls in a burst on an evicted policy (default 200)
  --cold-rounds <n>          cold start: bursts (default 5)
  --provider-latency-ms <n>  latency of every root-key provider call in the server child (default 50)
  --target <addr>            measure a running unwrapd; starts no server (cold start needs the admin role)
  --echo-target <addr>       an Echo server (bench/echo.proto, with EchoStream) to compare a --target with
  --tenant <id>              tenant of the calls (default demo)
  --policy <id>              policy of the calls (default demo-mailbox)
  --deadline-ms <n>          deadline of every unary and batch call (default 30000)
  --server-window <size>     HTTP/2 receive window of every call and connection of the server child, its daemon
                             (http2StreamWindowBytes, http2ConnectionWindowBytes) and its Echo alike (default
                             65535, HTTP/2's; at most 16m, the daemon's cap; not with --target)
  --client-window <size>     HTTP/2 receive window of the bench's clients, unwrapd's and the Echo's alike
                             (default 65535, grpc-js's)
  --server-cpu-prof <dir>    write a V8 CPU profile of the server child into <dir> (not with --target)
  --json <file>              results file (default bench/results/throughput-<timestamp>.json)
  --no-json                  write no results file
  -h, --help`;

function int(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${raw}"`);
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

export function parseThroughputOptions(
  argv: string[],
  defaults: { resultsDir?: string } = {},
): ThroughputOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        sections: { type: 'string', default: SECTIONS.join(',') },
        'duration-ms': { type: 'string', default: '700' },
        'warmup-ms': { type: 'string', default: '200' },
        rounds: { type: 'string', default: '3' },
        concurrency: { type: 'string', default: '1,16' },
        'item-bytes': { type: 'string', default: '4k' },
        'batch-sizes': { type: 'string', default: '16,64,256' },
        'stream-bytes': { type: 'string', default: '256m' },
        'chunk-bytes': { type: 'string', default: '64k' },
        'stream-rounds': { type: 'string', default: '3' },
        'cold-calls': { type: 'string', default: '200' },
        'cold-rounds': { type: 'string', default: '5' },
        'provider-latency-ms': { type: 'string', default: '50' },
        target: { type: 'string' },
        'echo-target': { type: 'string' },
        tenant: { type: 'string', default: 'demo' },
        policy: { type: 'string', default: 'demo-mailbox' },
        'deadline-ms': { type: 'string', default: '30000' },
        'server-window': { type: 'string' },
        'client-window': { type: 'string' },
        'server-cpu-prof': { type: 'string' },
        json: { type: 'string' },
        'no-json': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values['server-cpu-prof'] && values.target)
    throw new UsageError('--server-cpu-prof profiles the server the bench starts; it does not go with --target');
  const sections = list(values.sections, (s) => {
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new UsageError(`--sections takes ${SECTIONS.join(',')}, got "${s}"`);
    return s as Section;
  });
  const size = (name: string, raw: string) => {
    try {
      return parseSize(raw);
    } catch {
      throw new UsageError(`--${name} takes sizes like 4096, 4k or 1m, got "${raw}"`);
    }
  };
  /** A window from HTTP/2's default to `max` bytes (the server's: the daemon's http2StreamWindowBytes cap). */
  const window = (name: string, raw: string, max: number) => {
    const n = size(name, raw);
    if (n < HTTP2_DEFAULT_WINDOW_BYTES || n > max)
      throw new UsageError(`--${name} must be ${HTTP2_DEFAULT_WINDOW_BYTES} to ${max} bytes, got "${raw}"`);
    return n;
  };
  if (values['server-window'] && values.target)
    throw new UsageError('--server-window sets the server the bench starts; it does not go with --target');
  const resultsDir = defaults.resultsDir ?? fileURLToPath(new URL('../results', import.meta.url));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    sections,
    durationMs: int('duration-ms', values['duration-ms'], 100),
    warmupMs: int('warmup-ms', values['warmup-ms'], 0),
    rounds: int('rounds', values.rounds, 1),
    concurrency: list(values.concurrency, (s) => int('concurrency', s, 1)),
    itemBytes: size('item-bytes', values['item-bytes']),
    batchSizes: list(values['batch-sizes'], (s) => int('batch-sizes', s, 1)),
    streamBytes: size('stream-bytes', values['stream-bytes']),
    chunkBytes: size('chunk-bytes', values['chunk-bytes']),
    streamRounds: int('stream-rounds', values['stream-rounds'], 1),
    coldCalls: int('cold-calls', values['cold-calls'], 1),
    coldRounds: int('cold-rounds', values['cold-rounds'], 1),
    providerLatencyMs: int('provider-latency-ms', values['provider-latency-ms'], 0),
    target: values.target,
    echoTarget: values['echo-target'],
    tenant: values.tenant,
    policy: values.policy,
    deadlineMs: int('deadline-ms', values['deadline-ms'], 1),
    serverWindowBytes: values['server-window']
      ? window('server-window', values['server-window'], HTTP2_MAX_STREAM_WINDOW_BYTES)
      : HTTP2_DEFAULT_WINDOW_BYTES,
    clientWindowBytes: values['client-window']
      ? window('client-window', values['client-window'], 2 ** 31 - 1)
      : undefined,
    serverCpuProf: values['server-cpu-prof'],
    json: values['no-json'] ? undefined : resolve(values.json ?? `${resultsDir}/throughput-${stamp}.json`),
  };
}
