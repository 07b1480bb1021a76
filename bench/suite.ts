/**
 * `npm run bench:all`: the whole benchmark suite in one command (about 2.5 minutes on 2 cores):
 *
 *   1. the unary benchmark (bench/unary.ts, its own server child): Encrypt/Decrypt at 256 B, 4 KiB, 64 KiB and
 *      1 MiB, concurrency 1 and 64, beside a bare grpc-js Echo, with raw AES-256-GCM in-process;
 *   2. the throughput benchmark (bench/throughput.ts, another server child): batches of 16/64/256 items of
 *      4 KiB against unary calls, a 256 MiB stream each way against a streaming Echo, in-process baselines,
 *      and a cold start under load with a provider of configurable latency;
 *
 * then a summary of every speed target (bench/README.md), and one JSON file holding both documents.
 * Options: --quick (about a minute, for a smoke run), --provider-latency-ms, --target/--echo-target/--tenant/
 * --policy (point both at a deployed sidecar), --json FILE, --no-json. Each part has more options of its own:
 * `npm run bench -- --help`, `npm run bench:throughput -- --help`.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable, num } from './lib/table.js';
import { parseThroughputOptions } from './lib/throughput-options.js';
import type { TargetResult } from './lib/throughput-report.js';
import { runThroughput } from './throughput.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `usage: npm run bench:all -- [options]
  --quick                    shorter runs (about a minute): a smoke test of the suite, not a measurement
  --provider-latency-ms <n>  provider latency of the throughput server child, for the cold start (default 50)
  --target <addr>            measure a running unwrapd (both parts; see bench/README.md)
  --echo-target <addr>       an Echo server (bench/echo.proto) beside the --target
  --tenant <id>, --policy <id>
  --json <file>              combined results (default bench/results/suite-<timestamp>.json)
  --no-json                  write no results file
  -h, --help`;

interface UnaryDoc {
  /** Per payload size, its targets (bench/lib/unary-report.ts, unaryTargets) with PASS/MISS. */
  results: { payloadBytes: number; targets?: TargetResult[] }[];
}

/** The unary targets of the 4 KiB run: Encrypt and Decrypt p50 at concurrency 1, ops/s at 64, sealBlock. */
function unaryTargets(doc: UnaryDoc): TargetResult[] {
  return doc.results.find((r) => r.payloadBytes === 4096)?.targets ?? [];
}

function runUnary(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', join(ROOT, 'bench/unary.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolvePromise() : reject(new Error(`bench/unary.ts exited with ${code ?? signal}`)),
    );
  });
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        quick: { type: 'boolean', default: false },
        'provider-latency-ms': { type: 'string', default: '50' },
        target: { type: 'string' },
        'echo-target': { type: 'string' },
        tenant: { type: 'string' },
        policy: { type: 'string' },
        json: { type: 'string' },
        'no-json': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const jsonPath = values['no-json']
    ? undefined
    : resolve(values.json ?? join(ROOT, 'bench/results', `suite-${stamp}.json`));
  const shared = [
    ...(values.target ? ['--target', values.target] : []),
    ...(values['echo-target'] ? ['--echo-target', values['echo-target']] : []),
    ...(values.tenant ? ['--tenant', values.tenant] : []),
    ...(values.policy ? ['--policy', values.policy] : []),
  ];

  // 1. Unary, in its own process (its server child with it), results to a temporary file.
  const tmp = join(tmpdir(), `uwd-suite-${process.pid}-unary.json`);
  const unaryArgs = values.quick
    ? [
        '--payload',
        '256,4k,64k,1m',
        '--concurrency',
        '1,64',
        '--rounds',
        '1',
        '--duration-ms',
        '300',
        '--warmup-ms',
        '100',
        '--in-process-ms',
        '100',
      ]
    : [
        '--payload',
        '256,4k,64k,1m',
        '--concurrency',
        '1,64',
        '--rounds',
        '3',
        '--duration-ms',
        '700',
        '--warmup-ms',
        '300',
        '--in-process-ms',
        '300',
      ];
  process.stdout.write('== unary (bench/unary.ts) ==\n');
  await runUnary([...unaryArgs, ...shared, '--json', tmp]);
  const unary = JSON.parse(await readFile(tmp, 'utf8')) as UnaryDoc;
  await rm(tmp, { force: true });

  // 2. Throughput, in this process (its own server child).
  process.stdout.write('\n== throughput (bench/throughput.ts) ==\n');
  const quick = values.quick
    ? [
        '--rounds',
        '1',
        '--duration-ms',
        '300',
        '--warmup-ms',
        '100',
        '--stream-rounds',
        '1',
        '--stream-bytes',
        '64m',
        '--cold-rounds',
        '2',
      ]
    : [];
  const opts = parseThroughputOptions([
    ...quick,
    '--provider-latency-ms',
    values['provider-latency-ms'],
    ...shared,
    '--no-json',
  ]);
  if (opts === 'help') return;
  const throughput = await runThroughput(opts);

  // 3. Every speed target, in one table.
  const targets = [...unaryTargets(unary), ...throughput.targets];
  process.stdout.write('\n== targets (goals, not test assertions) ==\n');
  process.stdout.write(
    `${formatTable(
      [
        { header: 'target', align: 'left' },
        { header: 'goal', align: 'left' },
        { header: 'measured' },
        { header: '', align: 'left' },
        { header: 'crypto floor' },
        { header: 'detail', align: 'left' },
      ],
      targets.map((t) => [
        t.name,
        t.goal,
        num(t.value, 2),
        t.pass === undefined ? '----' : t.pass ? 'PASS' : 'MISS',
        t.floor === undefined ? '' : num(t.floor, 2),
        t.detail,
      ]),
    )}\n`,
  );
  if (values.quick) process.stdout.write('(--quick: one short round each; do not quote these figures)\n');

  if (jsonPath) {
    const doc = {
      bench: 'suite',
      schema: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      quick: values.quick,
      targets,
      unary,
      throughput,
    };
    await mkdir(dirname(jsonPath), { recursive: true });
    await writeFile(jsonPath, `${JSON.stringify(doc, null, 2)}\n`);
    process.stdout.write(`\nresults: ${jsonPath}\n`);
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
