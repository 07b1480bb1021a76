import test from 'ava';
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BUILD_STAMP, FRESH_MARGIN_MS, buildState } from '../bin/build-state.js';

/**
 * The CLI starts from dist/ when that is a build of the current sources, and from src/ through tsx otherwise
 * (bin/unwrapd.js, bin/build-state.js); `npm run build` and `npm ci` (through `prepare`) build and stamp it
 * (scripts/build.mjs). Each check runs in a small stand-in repository in a temp dir: bin/ and scripts/ copied
 * from this one, node_modules linked to this one's, sources and builds of a few lines.
 */
const ROOT = new URL('..', import.meta.url).pathname;

function standIn(t: { teardown(fn: () => void): void }): { root: string; write(path: string, text: string): string } {
  const root = mkdtempSync(join(tmpdir(), 'uwd-startup-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const f of ['bin/unwrapd.js', 'bin/build-state.js', 'scripts/build.mjs']) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(root, f));
  }
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
    return join(root, path);
  };
  return { root, write };
}

/** Runs node with `args`; resolves with the exit code and output, never rejects. */
function node(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/**
 * Sets a path's modification time to `ms` after the epoch: no sleeping for the clock to move. Its status-change
 * time, which cannot be set, is now: T lies an hour ahead, so that the modification times decide.
 */
const at = (path: string, ms: number) => utimesSync(path, new Date(ms), new Date(ms));
const T = Date.now() + 3_600_000;
/** A stamp this long after T: every input changed at T is older than it by more than the margin. */
const LATER = FRESH_MARGIN_MS + 1000;

test('build state: fresh while nothing under src/ or tsconfig changed after the stamp; stale after any change', (t) => {
  const { root, write } = standIn(t);
  const files = [write('src/a.ts', ''), write('src/cli/main.ts', ''), write('tsconfig.json', '{}')];
  for (const dir of ['src/cli', 'src']) at(join(root, dir), T);
  t.is(buildState(root), 'unbuilt');
  for (const f of files) at(f, T);
  for (const dir of ['src/cli', 'src']) at(join(root, dir), T);
  const stamp = write(BUILD_STAMP, '');
  at(stamp, T + LATER);
  t.is(buildState(root), 'fresh');

  at(files[1]!, T + LATER); // changed in the millisecond the build started: it may have been read before
  t.is(buildState(root), 'stale');
  // Recorded within the margin before the build: a coarse timestamp may be up to a second or two behind.
  at(files[1]!, T + LATER - FRESH_MARGIN_MS);
  t.is(buildState(root), 'stale');
  at(files[1]!, T + LATER - FRESH_MARGIN_MS - 1);
  t.is(buildState(root), 'fresh');
  at(files[1]!, T);
  at(files[2]!, T + LATER + 1000); // the compiler options
  t.is(buildState(root), 'stale');
  at(files[2]!, T);
  t.is(buildState(root), 'fresh');
  rmSync(files[1]!); // a removed file changes its folder
  t.not(statSync(join(root, 'src/cli')).mtimeMs, T, 'the removal moved the folder’s time');
  at(join(root, 'src/cli'), T + LATER); // "now" in this test's clock, an hour ahead
  t.is(buildState(root), 'stale');
  at(join(root, 'src/cli'), T);
  t.is(buildState(root), 'fresh', 'only times count: the removal is seen through the folder');

  rmSync(join(root, 'src'), { recursive: true });
  t.is(buildState(root), 'release', 'no sources (the container image): dist/ is all there is');
});

test('bin/unwrapd.js runs dist/ when it is current, the sources through tsx when not, dist/ where there is no src/', async (t) => {
  const { root, write } = standIn(t);
  const bin = join(root, 'bin', 'unwrapd.js');
  const source = write('src/cli/main.ts', "const from: string = 'src';\nprocess.stdout.write(`${from}\\n`);\n");
  write('dist/cli/main.js', "process.stdout.write('dist\\n');\n");
  at(source, T);
  at(join(root, 'src/cli'), T);
  at(join(root, 'src'), T);
  at(write(BUILD_STAMP, ''), T + LATER);
  const run = () => node([bin]);

  let r = await run();
  t.is(r.stdout, 'dist\n');
  t.is(r.stderr, '', 'nothing on stderr');
  at(source, T + LATER + 1000);
  r = await run();
  t.is(r.stdout, 'src\n', r.stderr);
  t.is(r.stderr, '', 'the hint to build is for a terminal: a script reading stderr sees nothing extra');
  rmSync(join(root, 'src'), { recursive: true });
  r = await run();
  t.is(r.stdout, 'dist\n');
});

test('scripts/build.mjs: a successful build is stamped current; a failed one leaves none (npm ci warns, goes on)', async (t) => {
  const { root, write } = standIn(t);
  write(
    'tsconfig.json',
    // ES5's library alone: the default one has the DOM's, most of each tsc run's time.
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        target: 'ES2022',
        lib: ['ES5'],
        strict: true,
        skipLibCheck: true,
        types: [],
      },
    }),
  );
  write(
    'tsconfig.build.json',
    JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: { outDir: 'dist', rootDir: 'src' },
      include: ['src'],
    }),
  );
  const main = write('src/cli/main.ts', 'export const n: number = 1;\n');
  const build = (...args: string[]) => node([join(root, 'scripts', 'build.mjs'), ...args]);

  let r = await build();
  t.is(r.status, 0, r.stdout + r.stderr);
  t.is(buildState(root), 'fresh', 'the source was written just before: the build waits out the margin');
  t.regex(readFileSync(join(root, 'dist/cli/main.js'), 'utf8'), /export const n = 1/);

  // An older file copied over a source with its modification time kept (cp -p, tar x, rsync -a, unzip): the
  // copy's status-change time is its own, so the build is stale.
  const older = write('elsewhere/main.ts', 'export const n: number = 2;\n');
  at(older, Date.now() - 3_600_000);
  copyFileSync(older, main);
  at(main, Date.now() - 3_600_000);
  t.is(buildState(root), 'stale');

  writeFileSync(main, "export const n: number = 'one';\n");
  r = await build('--prepare');
  t.is(r.status, 0, 'npm ci does not fail on a build that fails');
  t.regex(r.stderr, /the build failed, so the CLI runs the sources through tsx until `npm run build`/);
  t.is(buildState(root), 'unbuilt', 'the earlier stamp is gone with the earlier build');
});

test('package.json: npm ci builds (prepare), npm start runs the same bin, and no npm-run form of the CLI', (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    scripts: Record<string, string>;
  };
  t.is(pkg.bin.unwrapd, 'bin/unwrapd.js');
  t.is(pkg.scripts.build, 'node scripts/build.mjs');
  // Where there are no sources (the image's dependency stage) there is nothing to build.
  t.is(pkg.scripts.prepare, '[ ! -d src ] || node scripts/build.mjs --prepare');
  t.is(pkg.scripts.start, 'node bin/unwrapd.js serve');
  t.is(pkg.scripts.cli, undefined, '`npm run` prints its banner on stdout: `npx unwrapd` is the form');
});

test('the CLI loads only the command it runs: main.ts and run.ts import no command module up front', (t) => {
  const [main, run] = ['main.ts', 'run.ts'].map((f) => readFileSync(join(ROOT, 'src', 'cli', f), 'utf8')) as [
    string,
    string,
  ];
  for (const source of [main, run])
    t.deepEqual(
      source.match(/^import .* from '\.\/commands\/.*$/gm),
      null,
      '`serve` alone would load the whole daemon',
    );
  t.true(run.includes("status: async (args) => (await import('./commands/status.js')).status(args)"));
});
