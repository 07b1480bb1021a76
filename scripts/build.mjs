// `npm run build`: compiles src/ to dist/ (tsconfig.build.json) and stamps the build (bin/build-state.js), so
// that bin/unwrapd.js runs dist/ exactly while no source has changed since, and the sources through tsx after.
//
// `--prepare` is `npm ci`'s run (package.json `prepare`): it skips when TypeScript is not installed
// (`npm ci --omit=dev`), and a failing build warns instead of failing the install (the CLI then runs the
// sources). A plain `npm run build` fails with the compiler's exit code.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { clearBuildStamp, writeBuildStamp } from '../bin/build-state.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const prepare = process.argv.includes('--prepare');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  if (!prepare) throw new Error('TypeScript is not installed: run npm ci (with the dev dependencies) first');
  process.stderr.write('unwrapd: TypeScript is not installed (npm ci --omit=dev?), so dist/ is not built\n');
  process.exit(0);
}

clearBuildStamp(root);
const startedAt = new Date();
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (result.status === 0) {
  writeBuildStamp(root, startedAt);
} else if (prepare) {
  process.stderr.write('unwrapd: the build failed, so the CLI runs the sources through tsx until `npm run build`\n');
} else {
  process.exit(result.status ?? 1);
}
