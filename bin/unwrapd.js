#!/usr/bin/env node
// The `unwrapd` command (also `npm start`). It runs the compiled dist/ when that is a build of the sources in
// this checkout (always in the container image, which has no src/), and the TypeScript sources through tsx
// otherwise, so a checkout never runs stale code: bin/build-state.js decides, with a stat of each file under
// src/ (a few milliseconds). `npm ci` builds dist/ (the `prepare` script), `npm run build` rebuilds it.
import { fileURLToPath } from 'node:url';
import { buildState } from './build-state.js';

const root = new URL('../', import.meta.url);
const state = buildState(fileURLToPath(root));
if (state === 'release' || state === 'fresh') {
  await import(new URL('dist/cli/main.js', root).href);
} else {
  // For a person at a terminal only: scripts and tests read stderr, where the line would be noise.
  if (process.stderr.isTTY)
    process.stderr.write(
      state === 'stale'
        ? 'unwrapd: sources changed since the last build; `npm run build` makes the CLI start faster\n'
        : 'unwrapd: running the sources (no build yet); `npm run build` makes the CLI start faster\n',
    );
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('unwrapd: dist/ is not a build of src/ and tsx is not installed: run npm ci\n');
    process.exit(1);
  }
  register();
  await import(new URL('src/cli/main.ts', root).href);
}
