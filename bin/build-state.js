// Whether dist/ is a build of the sources in this checkout, so that bin/unwrapd.js runs compiled code only
// while it matches src/ (and otherwise the sources themselves, through tsx). scripts/build.mjs writes the
// stamp. Plain JavaScript, no dependency: it runs on every start of the CLI, before anything is compiled.
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Written after a successful build; its modification time is when that build started reading the sources. */
export const BUILD_STAMP = join('dist', '.build-stamp');

/**
 * How much older than the stamp every input must be for dist/ to be fresh. A filesystem with coarse timestamps
 * (one or two seconds) records a change made in the second the build started as older than the stamp; within
 * the margin the sources run through tsx, which is always correct, only slower to start.
 */
export const FRESH_MARGIN_MS = 2000;

/** What a build reads besides src/. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json'];

/**
 * `release`: no src/ (the container image), run dist/. `fresh`: dist/ was built more than FRESH_MARGIN_MS after
 * the last change to any file or folder under src/ (a folder's times change when an entry is added, removed or
 * renamed) and to the tsconfig files. `stale`: something changed since, or too close before. `unbuilt`: no
 * successful build.
 *
 * @param {string} root the repository (or image) root
 * @returns {'release' | 'fresh' | 'stale' | 'unbuilt'}
 */
export function buildState(root) {
  const src = statSync(join(root, 'src'), { throwIfNoEntry: false });
  if (!src?.isDirectory()) return 'release';
  const stamp = statSync(join(root, BUILD_STAMP), { throwIfNoEntry: false });
  if (!stamp) return 'unbuilt';
  const changed = (s) => lastChange(s) >= stamp.mtimeMs - FRESH_MARGIN_MS;
  if (changed(src)) return 'stale';
  for (const input of BUILD_INPUTS) {
    const s = statSync(join(root, input), { throwIfNoEntry: false });
    if (s && changed(s)) return 'stale';
  }
  return changedUnder(join(root, 'src'), changed) ? 'stale' : 'fresh';
}

/** Whether any entry under `dir` (at any depth) has stats `changed` accepts. */
function changedUnder(dir, changed) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const s = statSync(path, { throwIfNoEntry: false });
    if (!s) return true; // removed while we looked: changing
    if (changed(s)) return true;
    if (entry.isDirectory() && changedUnder(path, changed)) return true;
  }
  return false;
}

/**
 * When an entry last changed: the later of its modification time, which `cp -p`, `tar x`, `rsync -a` and unzip set
 * back to the original's, and its status-change time, which they cannot (it is the copy's own time).
 */
function lastChange(s) {
  return Math.max(s.mtimeMs, s.ctimeMs);
}

/** The latest change to any build input (src/ at any depth, the tsconfig files), in ms after the epoch. */
export function newestInput(root) {
  let newest = 0;
  const visit = (path, s) => {
    if (!s) return;
    newest = Math.max(newest, lastChange(s));
    if (s.isDirectory())
      for (const name of readdirSync(path))
        visit(join(path, name), statSync(join(path, name), { throwIfNoEntry: false }));
  };
  for (const input of ['src', ...BUILD_INPUTS])
    visit(join(root, input), statSync(join(root, input), { throwIfNoEntry: false }));
  return newest;
}

/** Before a build: no stamp, so that a failed or interrupted build is never taken for a current one. */
export function clearBuildStamp(root) {
  rmSync(join(root, BUILD_STAMP), { force: true });
}

/** After a successful build that started reading the sources at `startedAt` (a Date). */
export function writeBuildStamp(root, startedAt) {
  const path = join(root, BUILD_STAMP);
  writeFileSync(path, 'dist/ is a build of the sources as they were at this file’s modification time\n');
  utimesSync(path, startedAt, startedAt);
}
