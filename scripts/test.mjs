// `npm test`: builds dist/ when it is not a build of the current sources (scripts/build.mjs --if-stale; the CLI
// the tests start runs it), compiles the tests and the sources to JavaScript (scripts/build-tests.mjs, into
// .test-build/), then runs ava on that (ava.compiled.config.js) while the TypeScript compiler type-checks the
// whole project (`tsc --noEmit -p .`) beside it: the type check takes about 35 s of one core, which the suite,
// mostly waiting on its children and sockets, leaves free. It fails when either fails.
//
// Arguments go to ava; a test file named as its source (`npm test -- test/x.test.ts`) runs its compiled copy.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

for (const step of [['scripts/build.mjs', '--if-stale'], ['scripts/build-tests.mjs']]) {
  const { status } = spawnSync(process.execPath, step, { cwd: root, stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? 1);
}

/** Runs `args` with node; resolves to its exit code and, when `collect`, its output (else printed as it comes). */
function run(args, collect) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: collect ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

const typecheck = run([require.resolve('typescript/bin/tsc'), '--noEmit', '-p', '.'], true);
const avaArgs = process.argv
  .slice(2)
  .map((arg) => (/^(\.\/)?test\/.*\.ts$/.test(arg) ? `.test-build/${arg.replace(/^\.\//, '').slice(0, -3)}.js` : arg));
const ava = await run([
  join(root, 'node_modules/ava/entrypoints/cli.mjs'),
  '--config',
  'ava.compiled.config.js',
  ...avaArgs,
]);
const types = await typecheck;
process.stdout.write(
  types.code === 0 ? 'tsc --noEmit -p .: no type errors\n' : `tsc --noEmit -p . failed:\n${types.output}`,
);
process.exit(ava.code !== 0 ? ava.code : types.code);
