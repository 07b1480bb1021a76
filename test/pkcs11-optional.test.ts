import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
 * `unwrapd serve` starts, and configuring a PKCS#11 module says how to enable it. That no file of the type
 * check's program is the addon's is checked by `npm run typecheck` itself (scripts/typecheck.mjs, in the same tsc
 * run as the type check); the tests here hold that check to the build and show it fails when it should.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const HIDE_PKCS11JS = join(ROOT, 'test', 'fixtures', 'hide-pkcs11js.mjs');
const ADDON_DIR = `${sep}node_modules${sep}pkcs11js${sep}`;

function project(file: string): ts.ParsedCommandLine {
  const config = ts.readConfigFile(join(ROOT, file), (path) => ts.sys.readFile(path));
  return ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT, undefined, join(ROOT, file));
}

/** Whether the optional addon is installed in this checkout. */
const PKCS11JS_INSTALLED = (() => {
  try {
    createRequire(import.meta.url).resolve('pkcs11js');
    return true;
  } catch {
    return false;
  }
})();

const TYPECHECK = join(ROOT, 'scripts', 'typecheck.mjs');
/** What the one-file projects are checked with: resolution as the project does it, and the smallest library. */
const TINY_OPTIONS = {
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  target: 'ES2022',
  lib: ['ES5'],
  strict: true,
  types: [],
  skipLibCheck: true,
};

/** The options that decide which files a program holds and how they check: all but the emit ones. */
function checkingOptions(options: ts.CompilerOptions): ts.CompilerOptions {
  const { noEmit, outDir, rootDir, sourceMap, configFilePath, ...rest } = options;
  void [noEmit, outDir, rootDir, sourceMap, configFilePath];
  return rest;
}

test("the build type-checks as part of the type check: its files are among the type check's, with the same options", (t) => {
  // `npm run typecheck` (scripts/typecheck.mjs) fails when a file of its program is one of pkcs11js's; that
  // answers for the build too only while the build's files are among the type check's, resolved and checked
  // with the same options.
  const check = project('tsconfig.json');
  const build = project('tsconfig.build.json');
  const checked = new Set(check.fileNames);
  t.deepEqual(
    build.fileNames.filter((f) => !checked.has(f)),
    [],
    'a file the build compiles and the type check does not: scripts/typecheck.mjs would have to check it on its own',
  );
  t.deepEqual(
    checkingOptions(build.options),
    checkingOptions(check.options),
    'the build resolves or checks with other options than the type check: exclude emit-only ones in checkingOptions, or check the build program on its own',
  );
  t.true(
    build.fileNames.some((f) => /pkcs11/.test(f)),
    'the build holds the PKCS#11 provider',
  );
  // And the check runs: `npm run typecheck` is that script, and CI runs it before the suite.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.is(pkg.scripts.typecheck, 'node scripts/typecheck.mjs');
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8').split('\n');
  const typecheckLine = ci.indexOf('npm run typecheck');
  t.true(typecheckLine >= 0 && typecheckLine < ci.indexOf('npm test'), '.ci/run type-checks before npm test');
});

test("the type check fails, naming the file, when a file of its program is one of pkcs11js's", async (t) => {
  t.timeout(300_000); // two tsc runs on a busy machine
  // A one-file project beside this checkout's node_modules; `leak` names pkcs11js for its types.
  const dir = mkdtempSync(join(tmpdir(), 'uwd-typecheck-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const typecheck = (source: string) => {
    writeFileSync(join(dir, 'index.ts'), source);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...TINY_OPTIONS }, files: ['index.ts'] }),
    );
    return spawnSync(process.execPath, [TYPECHECK, '-p', dir], { encoding: 'utf8' });
  };
  const clean = typecheck('export const handle: number = 1;\n');
  t.is(clean.status, 0, clean.stdout + clean.stderr);
  const leak = typecheck("import type { PKCS11 } from 'pkcs11js';\nexport type Handle = PKCS11;\n");
  t.not(leak.status, 0);
  if (PKCS11JS_INSTALLED) {
    t.regex(leak.stderr, /files of the optional addon pkcs11js are in the program/);
    t.true(leak.stderr.includes(ADDON_DIR), leak.stderr);
  } else {
    t.log('pkcs11js is not installed here: tsc fails to resolve it instead');
    t.regex(leak.stdout, /pkcs11js/);
  }
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
  const plain = await run('');
  t.is(plain.code, 1);
  t.regex(plain.stdout, /the PKCS#11 provider is not configured: set pkcs11Module/);
  t.is(
    /optional native addon pkcs11js/.test(plain.stdout),
    !PKCS11JS_INSTALLED,
    'the addon is named only where it is missing',
  );
});
