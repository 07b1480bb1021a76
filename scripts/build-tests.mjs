// `npm test`'s step before ava: compiles every TypeScript file of src/, test/, scripts/ and bench/ to JavaScript
// (esbuild's transform, file by file, the same compiler tsx runs) into a mirror of the checkout under
// .test-build/ (OUT_DIR below), rebuilt from scratch each run, so that each test process loads plain JavaScript
// instead of passing every module through tsx (about 1 s of CPU less per test file). ava.compiled.config.js runs
// the mirror's test files.
//
// The mirror keeps the relative layout (an import of '../src/x.js' finds the compiled src/x.ts), and each
// module's `import.meta.url` (`dirname`, `filename`) is its source file's, not the mirror's: the files a module
// finds relative to itself (vectors, fixtures, protos, docs, bin/, package.json) are the checkout's, a test that
// scans src/ or reads a source file reads the real one, and a child started from `new URL('./x.ts',
// import.meta.url)` runs the current sources. Other files of those folders are symlinked into the mirror, as is
// bin/ (tests import bin/build-state.js). Inline source maps (without the sources' text) point stack traces at
// the .ts files under `node --enable-source-maps`.
import { existsSync, readFileSync, readdirSync, rmSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * Each build has a mirror of its own under .test-build/, so that runs side by side in one checkout never see
 * each other's half-written or removed files: `npm test` builds `.test-build/run-<its pid>/` (scripts/test.mjs
 * passes it in UNWRAPD_TEST_BUILD_DIR, and removes it when it ends), a plain `node scripts/build-tests.mjs`
 * builds `.test-build/manual/`. Mirrors of runs whose process is gone (killed outright) are removed here.
 */
const OUT_DIR = process.env.UNWRAPD_TEST_BUILD_DIR ?? '.test-build/manual';
const out = join(root, OUT_DIR);
const DIRS = ['src', 'test', 'scripts', 'bench'];
const SKIP = new Set(['bench/results']);
const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));

/** Every file under `dir` (relative to the checkout), skipping SKIP. */
function* walk(dir) {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (SKIP.has(path)) continue;
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

async function compile(path) {
  const source = join(root, path);
  const url = pathToFileURL(source).href;
  const { code } = await transform(readFileSync(source, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: `node${process.versions.node}`,
    tsconfigRaw: { compilerOptions },
    sourcemap: 'inline',
    sourcesContent: false,
    sourcefile: source,
    define: {
      'import.meta.url': JSON.stringify(url),
      'import.meta.dirname': JSON.stringify(dirname(source)),
      'import.meta.filename': JSON.stringify(source),
    },
  });
  writeFileSync(join(out, path.replace(/\.ts$/, '.js')), code);
}

/** Whether process `pid` is alive (a signal 0 reaches it, or exists but is not ours to signal). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

const started = performance.now();
for (const entry of existsSync(join(root, '.test-build')) ? readdirSync(join(root, '.test-build')) : []) {
  const pid = /^run-(\d+)$/.exec(entry)?.[1];
  if (pid !== undefined && !alive(Number(pid)))
    rmSync(join(root, '.test-build', entry), { recursive: true, force: true });
}
rmSync(out, { recursive: true, force: true });
const jobs = [];
for (const top of DIRS) {
  for (const path of walk(top)) {
    mkdirSync(join(out, dirname(path)), { recursive: true });
    if (path.endsWith('.ts') && !path.endsWith('.d.ts')) jobs.push(compile(path));
    else symlinkSync(relative(join(out, dirname(path)), join(root, path)), join(out, path));
  }
}
symlinkSync(relative(out, join(root, 'bin')), join(out, 'bin'), 'dir');
await Promise.all(jobs);
process.stdout.write(`${OUT_DIR}/: ${jobs.length} files compiled in ${Math.round(performance.now() - started)} ms\n`);
