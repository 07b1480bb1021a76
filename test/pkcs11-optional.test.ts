import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import ts from 'typescript';
import { PKCS11_CONSTANTS, PKCS11_METHODS } from '../src/providers/pkcs11-api.js';
import { PKCS11_ADDON_MISSING } from '../src/providers/pkcs11-provider.js';
import { CLI, startServe } from './helpers/serve-process.js';

/**
 * pkcs11js is an optional dependency (a native addon built only where a C++ toolchain is): without it the
 * code type-checks and builds (src/providers/pkcs11-api.ts declares the part of its API the provider uses),
 * `unwrapd serve` starts, and configuring a PKCS#11 module says how to enable it.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const HIDE_PKCS11JS = join(ROOT, 'test', 'fixtures', 'hide-pkcs11js.mjs');
const ADDON_DIR = `${sep}node_modules${sep}pkcs11js${sep}`;

function project(file: string): ts.ParsedCommandLine {
  const config = ts.readConfigFile(join(ROOT, file), (path) => ts.sys.readFile(path));
  return ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT, undefined, join(ROOT, file));
}

/** The options that decide which files a program holds and how they check: all but the emit ones. */
function checkingOptions(options: ts.CompilerOptions): ts.CompilerOptions {
  const { noEmit, outDir, rootDir, sourceMap, configFilePath, ...rest } = options;
  void [noEmit, outDir, rootDir, sourceMap, configFilePath];
  return rest;
}

test('tsc needs no pkcs11js: no file of the typecheck or the build resolves to it, and the PKCS#11 code checks without it', (t) => {
  const check = project('tsconfig.json');
  const build = project('tsconfig.build.json');
  const resolve = (h: ts.ModuleResolutionHost) =>
    ts.resolveModuleName('pkcs11js', join(ROOT, 'src', 'index.ts'), check.options, h).resolvedModule;
  if (resolve(ts.sys) === undefined) t.log('pkcs11js is not installed here');

  // The build's files are among the type check's, resolved with the same options: a file of the build that
  // reached pkcs11js would be in the type check's program too, so one program answers for both.
  const checked = new Set(check.fileNames);
  t.deepEqual(
    build.fileNames.filter((f) => !checked.has(f)),
    [],
    'a file the build compiles and the type check does not: this test would have to check it on its own',
  );
  t.deepEqual(
    checkingOptions(build.options),
    checkingOptions(check.options),
    'the build resolves or checks with other options than the type check: exclude emit-only ones in checkingOptions, or check the build program on its own',
  );
  // With the installed addon visible: no file of the program is pkcs11js's (a file that names it for its types
  // would pull its declarations in, and make tsc fail where it is not installed).
  const program = ts.createProgram({ rootNames: check.fileNames, options: check.options });
  t.deepEqual(
    program
      .getSourceFiles()
      .filter((f) => f.fileName.includes(ADDON_DIR))
      .map((f) => f.fileName),
    [],
    'a file that names pkcs11js for its types makes tsc fail where it is not installed',
  );
  // So the program is what it would be without the addon, and the files that use the addon check in it as they
  // would without it (the rest of the program does not involve it).
  const users = program
    .getSourceFiles()
    .filter((f) => /pkcs11|softhsm/.test(f.fileName) && !f.fileName.includes(`${sep}node_modules${sep}`));
  t.true(users.length >= 6, users.map((f) => f.fileName).join(', '));
  const diagnostics = users.flatMap((f) => ts.getPreEmitDiagnostics(program, f));
  t.deepEqual(
    diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    [],
  );
});

test('the local declaration names what the installed addon has (when it is installed)', (t) => {
  let addon: Record<string, unknown> & { PKCS11: new () => Record<string, unknown> };
  try {
    addon = createRequire(import.meta.url)('pkcs11js') as typeof addon;
  } catch {
    t.log('pkcs11js is not installed here: nothing to compare');
    t.pass();
    return;
  }
  for (const name of PKCS11_CONSTANTS) t.is(typeof addon[name], 'number', name);
  const instance = new addon.PKCS11(); // no module loaded: the methods only (some are added per instance)
  for (const name of PKCS11_METHODS) t.is(typeof instance[name], 'function', name);
});

test('without pkcs11js, unwrapd serve starts; with a PKCS#11 module configured it stops saying how to enable it', async (t) => {
  const env = (extra: Record<string, string>) => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNWRAPD_'))),
    NODE_OPTIONS: `--import=${HIDE_PKCS11JS}`,
    UNWRAPD_DEMO: 'false',
    ...extra,
  });
  const serve = await startServe(t, (dir) => env({ UNWRAPD_DATA_DIR: dir }), /listening on/);
  t.is(await serve.terminate(), 0, `${serve.stderr()} signal=${serve.child.signalCode}`);

  const failed = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'serve'],
      // Any existing file passes the "module exists" check: the addon is missing before the module is loaded.
      { env: env({ UNWRAPD_DATA_DIR: serve.dir, UNWRAPD_PKCS11_MODULE: CLI, UNWRAPD_PKCS11_PIN: '1' }) },
      (err, _stdout, stderr) => resolve({ code: err ? ((err.code as number | undefined) ?? null) : 0, stderr }),
    );
  });
  t.is(failed.code, 1);
  t.is(failed.stderr, `unwrapd: ${PKCS11_ADDON_MISSING}\n`);
});

test('without pkcs11js, keys check of a pkcs11: URI says to configure a module and, first, to install the addon', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uwd-pkcs11-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNWRAPD_'))),
    UNWRAPD_DATA_DIR: dir,
  };
  const run = (nodeOptions: string) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'keys', 'check', 'pkcs11:token=hsm;object=k1'],
        { env: { ...env, NODE_OPTIONS: nodeOptions } },
        (err, stdout) => resolve({ code: err ? ((err.code as number | undefined) ?? null) : 0, stdout }),
      );
    });
  const without = await run(`--import=${HIDE_PKCS11JS}`);
  t.is(without.code, 1);
  t.regex(without.stdout, /the PKCS#11 provider is not configured: set pkcs11Module/);
  t.regex(
    without.stdout,
    /first install a C\+\+ toolchain \(make, g\+\+, python3\) and re-run npm ci: the optional native addon pkcs11js it needs is not installed/,
  );
  let installed = true;
  try {
    createRequire(import.meta.url).resolve('pkcs11js');
  } catch {
    installed = false;
  }
  const plain = await run('');
  t.is(plain.code, 1);
  t.regex(plain.stdout, /the PKCS#11 provider is not configured: set pkcs11Module/);
  t.is(/optional native addon pkcs11js/.test(plain.stdout), !installed, 'the addon is named only where it is missing');
});
