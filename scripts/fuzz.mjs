#!/usr/bin/env node
// npm run fuzz -- --runs N [files] [ava args]: runs the property and fuzz tests (test/**/*.property.test.ts, or
// the files named) with N cases each instead of the bounded number `npm test` runs, and a two-hour per-test
// timeout. docs/testing.md describes it.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
let runs = '100000';
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = args[++i] ?? '';
  else if (args[i].startsWith('--runs=')) runs = args[i].slice('--runs='.length);
  else rest.push(args[i]);
}
if (!/^[1-9][0-9]*$/.test(runs)) {
  console.error(`fuzz: --runs needs a positive integer, got ${JSON.stringify(runs)}`);
  process.exit(2);
}
// Files named on the command line replace the default set; the value of an option such as `--match 'x*'` is
// not a file (treating it as one would run the whole suite, filtered by the match).
const VALUE_OPTIONS = new Set([
  '--match',
  '-m',
  '--timeout',
  '-T',
  '--concurrency',
  '-c',
  '--node-arguments',
  '--config',
]);
const namesFiles = rest.some((a, i) => !a.startsWith('-') && !VALUE_OPTIONS.has(rest[i - 1] ?? ''));
const files = namesFiles ? [] : ['test/**/*.property.test.ts'];
const result = spawnSync('npx', ['ava', '--timeout=120m', '--verbose', ...files, ...rest], {
  stdio: 'inherit',
  env: { ...process.env, UNWRAPD_FUZZ_RUNS: runs },
});
process.exit(result.status ?? 1);
