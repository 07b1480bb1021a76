// `npm run build`: compiles src/ to dist/ (tsconfig.build.json) and stamps the build (bin/build-state.js), so
// that bin/unwrapd.js runs dist/ exactly while no source has changed since, and the sources through tsx after.
//
// `--prepare` is `npm ci`'s run (package.json `prepare`): it skips when TypeScript is not installed
// (`npm ci --omit=dev`), and a failing build warns instead of failing the install (the CLI then runs the
// sources). A plain `npm run build` fails with the compiler's exit code.
//
// `--if-stale` (`npm test`'s run) builds only when dist/ is not a build of the current sources, so that the
// CLI the tests start runs compiled code (the tests would run the sources through tsx otherwise, as correct but
// slower to start: each start costs about 0.6 s of CPU more); on a current build it does nothing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { FRESH_MARGIN_MS, buildState, clearBuildStamp, newestInput, writeBuildStamp } from '../bin/build-state.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const prepare = process.argv.includes('--prepare');
if (process.argv.includes('--if-stale') && ['fresh', 'release'].includes(buildState(root))) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  if (!prepare) throw new Error('TypeScript is not installed: run npm ci (with the dev dependencies) first');
  process.stderr.write('unwrapd: TypeScript is not installed (npm ci --omit=dev?), so dist/ is not built\n');
  process.exit(0);
}

clearBuildStamp(root);
// A build counts as fresh only for inputs changed more than FRESH_MARGIN_MS before it started: right after an
// edit, start that much later (at most the margin), so that the build of a just-saved file is not stale at once.
const settle = newestInput(root) + FRESH_MARGIN_MS + 1 - Date.now();
if (settle > 0) await sleep(Math.min(settle, FRESH_MARGIN_MS + 1));
const startedAt = new Date();
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (result.status === 0) {
  writeBuildStamp(root, startedAt);
} else if (prepare) {
  process.stderr.write('unwrapd: the build failed, so the CLI runs the sources through tsx until `npm run build`\n');
} else {
  process.exit(result.status ?? 1);
}
