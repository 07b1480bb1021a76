// `npm test`: builds dist/ when it is not a build of the current sources (scripts/build.mjs --if-stale; the CLI
// the tests start runs it), compiles the tests and the sources to JavaScript (scripts/build-tests.mjs, into a
// mirror of this run's own, .test-build/run-<pid>/, removed when the run ends), then runs ava on that
// (ava.compiled.config.js). SIGINT, SIGTERM and SIGHUP are passed on, and the run exits as killed by that signal
// once ava has ended. The type check is `npm run typecheck` (scripts/typecheck.mjs), which .ci/run runs before this.
//
// Arguments go to ava; a test file named as its source (`npm test -- test/x.test.ts`) runs its compiled copy.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const buildDir = `.test-build/run-${process.pid}`;
const env = { ...process.env, UNWRAPD_TEST_BUILD_DIR: buildDir };

const children = new Set();
let stoppedBy;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    stoppedBy ??= signal;
    for (const child of children) child.kill(signal);
  });
}

/** Exits with `code`, or as killed by the signal that stopped the run, after removing this run's mirror. */
function exit(code) {
  rmSync(join(root, buildDir), { recursive: true, force: true });
  process.exit(stoppedBy ? 128 + constants.signals[stoppedBy] : code);
}

/**
 * Runs `args` with node, its output printed as it comes; resolves to its exit code (128 + the signal's number if a
 * signal ended it).
 */
function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    children.add(child);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 128 + constants.signals[signal] : 1));
    });
  });
}

for (const step of [['scripts/build.mjs', '--if-stale'], ['scripts/build-tests.mjs']]) {
  const code = await run(step);
  if (code !== 0 || stoppedBy) exit(code || 1);
}

const avaArgs = process.argv
  .slice(2)
  .map((arg) => (/^(\.\/)?test\/.*\.ts$/.test(arg) ? `${buildDir}/${arg.replace(/^\.\//, '').slice(0, -3)}.js` : arg));
const code = await run([
  join(root, 'node_modules/ava/entrypoints/cli.mjs'),
  '--config',
  'ava.compiled.config.js',
  ...avaArgs,
]);
exit(code);
