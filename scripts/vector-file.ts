import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Writes a vectors file, or with `--check` on the command line verifies that the committed one is exactly
 * what the generator produces now (exit 1 otherwise).
 */
export function writeOrCheckVectors(path: string, vectors: unknown): void {
  const text = JSON.stringify(vectors, null, 2) + '\n';
  if (process.argv.includes('--check')) {
    if (readFileSync(path, 'utf8') !== text) {
      console.error(`${path} is out of date; re-run without --check`);
      process.exit(1);
    }
    console.log(`${path} is up to date`);
    return;
  }
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}

/** The path of a published vectors file, test/vectors/<name>. */
export function vectorsPath(name: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'vectors', name);
}

/**
 * A generator's entry point: when `moduleUrl` (its import.meta.url) is the script node was started with,
 * writes or checks `path` with what `build` gives; when a test imports the generator, does nothing.
 */
export function generateWhenRun(moduleUrl: string, path: string, build: () => unknown): void {
  if (process.argv[1] && fileURLToPath(moduleUrl) === process.argv[1]) writeOrCheckVectors(path, build());
}
