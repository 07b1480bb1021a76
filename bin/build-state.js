// Whether dist/ is a build of the sources in this checkout, so that bin/unwrapd.js runs compiled code only
// while it matches src/ (and otherwise the sources themselves, through tsx). scripts/build.mjs writes the
// stamp. Plain JavaScript, no dependency: it runs on every start of the CLI, before anything is compiled.
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Written after a successful build; its modification time is when that build started reading the sources. */
export const BUILD_STAMP = join('dist', '.build-stamp');

/** What a build reads besides src/. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json'];

/**
 * `release`: no src/ (the container image), run dist/. `fresh`: dist/ was built after the last change to any
 * file or folder under src/ (a folder's time changes when an entry is added, removed or renamed) and to the
 * tsconfig files. `stale`: something changed since. `unbuilt`: no successful build.
 *
 * @param {string} root the repository (or image) root
 * @returns {'release' | 'fresh' | 'stale' | 'unbuilt'}
 */
export function buildState(root) {
  const src = statSync(join(root, 'src'), { throwIfNoEntry: false });
  if (!src?.isDirectory()) return 'release';
  const stamp = statSync(join(root, BUILD_STAMP), { throwIfNoEntry: false });
  if (!stamp) return 'unbuilt';
  // Strictly older than the stamp: a file changed in the millisecond the build started counts as changed.
  const changed = (mtimeMs) => mtimeMs >= stamp.mtimeMs;
  if (changed(src.mtimeMs)) return 'stale';
  for (const input of BUILD_INPUTS) {
    const s = statSync(join(root, input), { throwIfNoEntry: false });
    if (s && changed(s.mtimeMs)) return 'stale';
  }
  return changedUnder(join(root, 'src'), changed) ? 'stale' : 'fresh';
}

/** Whether any entry under `dir` (at any depth) has a modification time `changed` accepts. */
function changedUnder(dir, changed) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const s = statSync(path, { throwIfNoEntry: false });
    if (!s) return true; // removed while we looked: changing
    if (changed(s.mtimeMs)) return true;
    if (entry.isDirectory() && changedUnder(path, changed)) return true;
  }
  return false;
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
