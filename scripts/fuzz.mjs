#!/usr/bin/env node
// npm run fuzz -- --runs N [ava args]: runs the property and fuzz tests (test/**/*.property.test.ts) with N cases
// each instead of the bounded number `npm test` runs, and a two-hour per-test timeout.
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
const files = rest.some((a) => !a.startsWith('-')) ? [] : ['test/**/*.property.test.ts'];
const result = spawnSync('npx', ['ava', '--timeout=120m', '--verbose', ...files, ...rest], {
  stdio: 'inherit',
  env: { ...process.env, UNWRAPD_FUZZ_RUNS: runs },
});
process.exit(result.status ?? 1);
