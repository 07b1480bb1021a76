import { arch, cpus, loadavg, platform, release } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The command-line options and the results file of the benchmarks that run one daemon process under a load
 * (bench/hostile.ts, bench/soak.ts): --json <file>, --no-json, --help, and a JSON file written to
 * bench/results/<bench>-<timestamp>.json unless told otherwise.
 */
export const RESULTS_FILE_OPTIONS = {
  json: { type: 'string' },
  'no-json': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/** With --help: prints `usage` and exits 0. */
export function exitOnHelp(values: { help?: boolean }, usage: string): void {
  if (!values.help) return;
  console.log(usage);
  process.exit(0);
}

/** Writes `data` to the --json file or bench/results/<bench>-<startedAt>.json (nothing with --no-json), and says where. */
export async function writeResults(
  values: { json?: string; 'no-json'?: boolean },
  bench: string,
  startedAt: Date,
  data: unknown,
): Promise<void> {
  if (values['no-json']) return;
  const file =
    values.json ??
    fileURLToPath(
      new URL(`../results/${bench}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url),
    );
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(data, null, 2));
  console.log(`results: ${file}`);
}

/** The machine a results file was measured on: Node, OS, CPUs and the load average at the end of the run. */
export function benchEnvironment() {
  return {
    node: process.version,
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim(),
    loadavg: loadavg(),
  };
}
