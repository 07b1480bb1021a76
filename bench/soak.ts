/**
 * `npm run soak -- --minutes N`: a real daemon process (test/helpers/daemon-process.ts: file registry, local
 * keystore, demo policy) under mixed load for N minutes (bench/lib/soak-load.ts: unary calls, batches,
 * streams, decrypts refused by revocation, and a lifecycle loop of policy creation, key rolls, rotations,
 * evictions, revocations and purges), at a fixed concurrency. Samples the daemon's RSS (/proc) every
 * --sample-s and its V8 heap after a full GC every --heap-sample-s, then reports operations by kind
 * (throughput, p50/p99), errors by kind and status (expected refusals apart), and the memory slope after the
 * warm-up (least squares, MiB/minute). Exits 1 on any unexpected error or a slope above --max-slope.
 * bench/README.md explains how to read it.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { UnwrapdClient } from '../src/client/client.js';
import { DEMO_POLICY, DEMO_TENANT } from '../src/daemon/demo.js';
import { startDaemonProcess, type DaemonProcess } from '../test/helpers/daemon-process.js';
import { rssBytes, type Point } from './lib/proc-memory.js';
import { exitOnHelp, RESULTS_FILE_OPTIONS, writeResults } from './lib/results-file.js';
import { DEFAULT_WEIGHTS, runSoakLoad, SoakStats, type SoakLoadOptions } from './lib/soak-load.js';
import { errorLines, opsTable, verdict, type MemorySamples } from './lib/soak-report.js';

const USAGE = `usage: npm run soak -- [options]
  --minutes <n>          duration of the load (default 2; decimals allowed)
  --concurrency <n>      load workers, each issuing its next call when the previous returns (default 16)
  --warmup-s <n>         seconds excluded from the memory slope (default: 20 % of the run, at most 60)
  --sample-s <n>         RSS sample interval (default 2)
  --heap-sample-s <n>    heap-after-GC sample interval (default 15; each forces two full GCs in the daemon)
  --max-slope <MiB/min>  fail when the RSS or heap slope after the warm-up is above this (default 2)
  --payload <bytes>      unary and batch item size (default 4096)
  --batch-items <n>      items per batch (default 16)
  --stream-bytes <n>     content of each stream (default 262144)
  --churn-ms <n>         one lifecycle cycle every n ms (default 500)
  --max-streams <n>      streams in flight at most; a worker drawing one more makes a Decrypt instead (default 4)
  --deadline-ms <n>      deadline of every load call (default 30000)
  --admin-deadline-ms <n> deadline of the lifecycle calls (default 120000: CreatePolicy generates an RSA key)
  --json <file>          results file (default bench/results/soak-<timestamp>.json)
  --no-json              write no results file`;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    'warmup-s': { type: 'string' },
    'sample-s': { type: 'string', default: '2' },
    'heap-sample-s': { type: 'string', default: '15' },
    'max-slope': { type: 'string', default: '2' },
    payload: { type: 'string', default: '4096' },
    'batch-items': { type: 'string', default: '16' },
    'stream-bytes': { type: 'string', default: String(256 * 1024) },
    'churn-ms': { type: 'string', default: '500' },
    'max-streams': { type: 'string', default: '4' },
    'deadline-ms': { type: 'string', default: '30000' },
    'admin-deadline-ms': { type: 'string', default: '120000' },
    ...RESULTS_FILE_OPTIONS,
  },
  strict: true,
});
exitOnHelp(values, USAGE);
const positive = (name: string, raw: string | undefined): number => {
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) {
    console.error(`--${name} must be a positive number, got "${raw}"\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const durationMs = positive('minutes', values.minutes) * 60_000;
const warmupS = values['warmup-s'] !== undefined ? Number(values['warmup-s']) : Math.min(60, (durationMs / 1000) * 0.2);
const sampleMs = positive('sample-s', values['sample-s']) * 1000;
const heapSampleMs = positive('heap-sample-s', values['heap-sample-s']) * 1000;
const maxSlope = positive('max-slope', values['max-slope']);
const load: SoakLoadOptions = {
  concurrency: positive('concurrency', values.concurrency),
  durationMs,
  payloadBytes: positive('payload', values.payload),
  batchItems: positive('batch-items', values['batch-items']),
  streamBytes: positive('stream-bytes', values['stream-bytes']),
  chunkBytes: 64 * 1024,
  churnIntervalMs: positive('churn-ms', values['churn-ms']),
  maxStreams: positive('max-streams', values['max-streams']),
  deadlineMs: positive('deadline-ms', values['deadline-ms']),
  adminDeadlineMs: positive('admin-deadline-ms', values['admin-deadline-ms']),
  weights: DEFAULT_WEIGHTS,
};

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);

let daemon: DaemonProcess | undefined;
let client: UnwrapdClient | undefined;
const stopAll = async () => {
  client?.close();
  await daemon?.stop();
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

const startedAt = new Date();
// Many throwaway policies come and go; the per-tenant limit counts live ones, so raise it out of the way.
daemon = await startDaemonProcess({ maxPoliciesPerTenant: 100_000 }, { readyTimeoutMs: 300_000 });
client = new UnwrapdClient(daemon.address, { adminAddress: daemon.adminAddress, maxMessageBytes: 8 * 1024 * 1024 });
await client.waitForReady(30_000, { admin: true });
console.log(
  `soak: daemon pid ${daemon.pid} (child: file registry, local keystore), ${load.concurrency} workers + 1 lifecycle loop, ${durationMs / 60_000} min, ` +
    `warm-up ${warmupS} s excluded from the slope; ${cpus().length} cpus, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);

const stats = new SoakStats();
const memory: MemorySamples = { rss: [], heap: [] };
const t0 = Date.now();
const since = () => (Date.now() - t0) / 1000;
const sampleRss = () => {
  const bytes = rssBytes(daemon!.pid);
  if (bytes !== undefined) memory.rss.push({ t: since(), bytes });
};
const sampleHeap = async () => {
  const t = since();
  const s = await withTimeout(daemon!.stats(), 10_000);
  if (s) memory.heap.push({ t, bytes: s.memory.heapUsed });
};
sampleRss();
await sampleHeap();
const rssTimer = setInterval(sampleRss, sampleMs);
let heapBusy = false;
const heapTimer = setInterval(() => {
  if (heapBusy) return;
  heapBusy = true;
  void sampleHeap().finally(() => (heapBusy = false));
}, heapSampleMs);
const progress = setInterval(() => {
  const last: Point | undefined = memory.rss.at(-1);
  process.stderr.write(
    `  ${since().toFixed(0)} s: unexpected errors ${stats.unexpectedTotal()}, RSS ${last ? (last.bytes / 1048576).toFixed(1) : '?'} MiB\n`,
  );
}, 30_000);

let elapsedMs = 0;
try {
  ({ elapsedMs } = await runSoakLoad(client, DEMO_TENANT, DEMO_POLICY, load, stats));
} finally {
  clearInterval(rssTimer);
  clearInterval(heapTimer);
  clearInterval(progress);
}
sampleRss();
await sampleHeap();
await stopAll();

const result = verdict(stats, memory, warmupS, maxSlope);
console.log(
  `\nload: ${(elapsedMs / 1000).toFixed(0)} s; payload ${load.payloadBytes} B, batches of ${load.batchItems}, streams of ${load.streamBytes} B, one lifecycle cycle per ${load.churnIntervalMs} ms`,
);
console.log(opsTable(stats, elapsedMs));
const total = [...stats.kinds.values()].reduce(
  (n, s) => n + s.ok + [...s.expected.values(), ...s.unexpected.values()].reduce((a, b) => a + b, 0),
  0,
);
console.log(`all kinds: ${total} operations, ${(total / (elapsedMs / 1000)).toFixed(0)} ops/s`);
console.log('errors:');
const errs = errorLines(stats);
console.log(errs.length ? errs.join('\n') : '  none');
for (const line of result.lines) console.log(line);

const kinds = Object.fromEntries(
  [...stats.kinds].map(([k, s]) => [
    k,
    {
      ok: s.ok,
      expected: Object.fromEntries(s.expected),
      unexpected: Object.fromEntries(s.unexpected),
      firstUnexpected: Object.fromEntries(s.firstUnexpected),
    },
  ]),
);
await writeResults(values, 'soak', startedAt, {
  bench: 'soak',
  startedAt,
  elapsedMs,
  warmupS,
  maxSlope,
  load,
  kinds,
  memory,
  verdict: result,
});
process.exit(result.pass ? 0 : 1);
