import { readFileSync, writeFileSync } from 'node:fs';

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
