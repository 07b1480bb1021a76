import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Child processes of the tests (daemons, fleet instances, registry writers, proxies) run TypeScript, and
 * starting one through tsx costs about 0.6 s of CPU more than starting plain JavaScript (tsx's own start-up,
 * and every module passed through its loader). A test file that starts many children compiles each child's
 * entry once, now, from the sources as they are (esbuild, which tsx itself runs on), into one JavaScript file
 * in a temp directory, and starts the children from that: never a stale build, nothing written into the
 * checkout.
 *
 * The bundle keeps what the sources would see: packages stay imports resolved from this checkout's
 * node_modules (a symlink beside the bundle), and each module's `import.meta.url` (`dirname`, `filename`)
 * stays its own source file's, so files found relative to a module (the protos) are found as before.
 * Without esbuild (it comes with tsx), the children run through tsx as before.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let dir: string | undefined;
const bundles = new Map<string, Promise<string | undefined>>();

/**
 * The node arguments that run TypeScript file `entry` (a path or file URL): `[bundle.mjs]` when it could be
 * compiled, else `['--import=tsx', entry]`. Compiled once per process and entry.
 */
export async function childNodeArgs(entry: string | URL): Promise<string[]> {
  const path = typeof entry === 'string' && !entry.startsWith('file:') ? entry : fileURLToPath(entry);
  let bundle = bundles.get(path);
  if (!bundle) {
    bundle = compile(path, bundles.size); // the index taken now: entries compiled at once never share a file
    bundles.set(path, bundle);
  }
  const js = await bundle;
  return js ? [js] : ['--import=tsx', path];
}

async function compile(entry: string, index: number): Promise<string | undefined> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  if (!dir) {
    const made = mkdtempSync(join(tmpdir(), 'uwd-child-js-'));
    dir = made;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    symlinkSync(join(ROOT, 'node_modules'), join(made, 'node_modules'), 'dir');
  }
  const outfile = join(dir, `${index}-${entry.replace(/^.*[\\/]/, '').replace(/\.[^.]+$/, '')}.mjs`);
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
    plugins: [
      {
        name: 'own-import-meta',
        setup(build) {
          build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
            const url = pathToFileURL(args.path).href;
            const contents = readFileSync(args.path, 'utf8')
              .replaceAll('import.meta.url', JSON.stringify(url))
              .replaceAll('import.meta.dirname', JSON.stringify(fileURLToPath(new URL('.', url)).replace(/\/$/, '')))
              .replaceAll('import.meta.filename', JSON.stringify(args.path));
            return { contents, loader: /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js' };
          });
        },
      },
    ],
  });
  return outfile;
}
