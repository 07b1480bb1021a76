// `npm run typecheck`: the whole project type-checked (`tsc --noEmit -p .`; `-p DIR` checks another project), and
// in the same tsc run the check that pkcs11js stays optional for tsc. pkcs11js is an optional dependency (a native
// addon built only where a C++ toolchain is); src/providers/pkcs11-api.ts declares the part of its API the
// provider uses, so no file should name the addon for its types. A file that did would pull the addon's
// declarations into the program, and tsc would fail where it is not installed. So this fails when a file of the
// program (listed by tsc's --listFiles) is one of pkcs11js's. With no such file the program is what it would be
// without the addon, and a clean check here means the code also checks without it. The build (tsconfig.build.json)
// compiles a subset of these files with the same options (test/pkcs11-optional.test.ts holds it so).
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';

const args = process.argv.slice(2);
if (!(args.length === 0 || (args.length === 2 && args[0] === '-p'))) {
  process.stderr.write('usage: node scripts/typecheck.mjs [-p DIR]   (other tsc options: npx tsc --noEmit ...)\n');
  process.exit(2);
}
const project = args[1] ?? '.';
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');

// The addon's files as tsc lists them: under a node_modules/pkcs11js/ folder, or under wherever the installed
// addon really is (a node_modules that is a symlink to a folder of another name).
const ADDON_DIR = `${sep}node_modules${sep}pkcs11js${sep}`;
let installedAt;
try {
  installedAt = realpathSync(dirname(require.resolve('pkcs11js/package.json'))) + sep;
} catch {
  installedAt = undefined; // not installed here
}
const isAddonFile = (f) => f.includes(ADDON_DIR) || (installedAt !== undefined && f.startsWith(installedAt));

const r = spawnSync(
  process.execPath,
  [tsc, '--noEmit', '--listFiles', '--pretty', String(process.stdout.isTTY === true), '-p', project],
  { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] },
);
if (r.error) throw r.error;

// tsc prints the diagnostics and the program's files on stdout: the files as absolute paths, one a line.
const listed = [];
const diagnostics = [];
for (const line of r.stdout.split('\n')) {
  if (line.startsWith(sep) && existsSync(line)) listed.push(line);
  else if (line !== '') diagnostics.push(line);
}
if (diagnostics.length > 0) process.stdout.write(`${diagnostics.join('\n')}\n`);

const addonFiles = listed.filter(isAddonFile);
if (addonFiles.length > 0) {
  process.stderr.write(
    `typecheck: files of the optional addon pkcs11js are in the program, so tsc would fail where it is not ` +
      `installed; a file names pkcs11js for its types (declare what it needs in src/providers/pkcs11-api.ts):\n` +
      addonFiles.map((f) => `  ${f}\n`).join(''),
  );
}
if (r.status === 0 && listed.length === 0) {
  process.stderr.write('typecheck: tsc listed no files (did --listFiles change?)\n');
  process.exit(1);
}
process.exit(r.status !== 0 ? (r.status ?? 1) : addonFiles.length > 0 ? 1 : 0);
