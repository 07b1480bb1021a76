import fc from 'fast-check';

/**
 * How many cases a property test runs. `npm test` runs each property a bounded number of times (the default
 * each test passes); `npm run fuzz -- --runs N` sets UNWRAPD_FUZZ_RUNS and runs the property files only, N cases
 * each. A failing case prints fast-check's seed and path, so it can be replayed.
 */
export function fuzzRuns(defaultRuns: number): number {
  const raw = process.env.UNWRAPD_FUZZ_RUNS;
  if (raw === undefined || raw === '') return defaultRuns;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`UNWRAPD_FUZZ_RUNS must be a positive integer, got ${raw}`);
  return n;
}

/**
 * Replaying a failure: fast-check prints `{ seed: S, path: "P" }`; UNWRAPD_FUZZ_SEED=S UNWRAPD_FUZZ_PATH=P
 * (with `--match` naming the failing test) runs exactly that case again, whatever the run count.
 */
const replaySeed = process.env.UNWRAPD_FUZZ_SEED;
if (replaySeed !== undefined && replaySeed !== '') {
  const seed = Number(replaySeed);
  if (!Number.isSafeInteger(seed)) throw new Error(`UNWRAPD_FUZZ_SEED must be an integer, got ${replaySeed}`);
  const path = process.env.UNWRAPD_FUZZ_PATH;
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed, ...(path ? { path } : {}) });
}
