import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRPC_STATUS_NAMES } from '../src/cli/cli-error.js';
import { CLI } from './helpers/serve-process.js';

/**
 * What a CLI command loads, which is most of its start-up: `--version` and `help` no package at all; a client
 * command grpc-js and the light build of protobufjs with the generated descriptors (src/rpc/client-services.ts),
 * never proto-loader or the .proto parser (the daemon's way, src/rpc/proto.ts). Each run records the package
 * files it loaded (test/fixtures/record-packages.mjs).
 */
const RECORD = new URL('fixtures/record-packages.mjs', import.meta.url).pathname;

async function loadedBy(
  t: { teardown(fn: () => void): void },
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; packages: string[]; files: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'uwd-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const record = join(dir, 'loaded.json');
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNWRAPD_'))),
    UNWRAPD_TEST_LOADED: record,
    UNWRAPD_DATA_DIR: dir,
  };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) =>
      execFile(process.execPath, [`--import=${RECORD}`, CLI, ...args], { env }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err.code as number | undefined) ?? null) : 0, stdout, stderr }),
      ),
  );
  const files = JSON.parse(readFileSync(record, 'utf8')) as string[];
  const packages = [...new Set(files.map((f) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? f))];
  return { code, stdout, stderr, files, packages: packages.filter((p) => p !== 'tsx' && p !== 'esbuild').sort() };
}

test('--version and help load no package', async (t) => {
  const version = await loadedBy(t, ['--version']);
  t.is(version.code, 0, version.stderr);
  t.regex(version.stdout, /^unwrapd \d+\.\d+\.\d+/);
  t.deepEqual(version.packages, []);
  const help = await loadedBy(t, ['help']);
  t.is(help.code, 0, help.stderr);
  t.deepEqual(help.packages, []);
});

test('a client command loads grpc-js and the light protobufjs, not proto-loader or the .proto parser', async (t) => {
  const r = await loadedBy(t, ['status']); // no daemon in the fresh data directory: the call fails, as it may
  t.is(r.code, 1);
  t.regex(r.stderr, /^unwrapd: UNAVAILABLE: .*no daemon answers at this address/);
  t.true(r.packages.includes('@grpc/grpc-js'), r.packages.join(', '));
  t.true(r.packages.includes('protobufjs'), r.packages.join(', '));
  t.false(r.packages.includes('@grpc/proto-loader'), r.packages.join(', '));
  t.false(r.packages.includes('lodash.camelcase'), r.packages.join(', '));
  t.true(
    r.files.some((f) => f.endsWith('/protobufjs/light.js')),
    'the light build',
  );
  t.deepEqual(
    r.files.filter((f) => /\/protobufjs\/src\/(parse|tokenize)\.js$/.test(f)),
    [],
    'no .proto parser',
  );
});

test('the CLI names gRPC status codes as grpc-js does', (t) => {
  const codes = Object.values(grpc.status).filter((v): v is number => typeof v === 'number');
  t.is(GRPC_STATUS_NAMES.length, codes.length);
  for (const code of codes) t.is(GRPC_STATUS_NAMES[code], grpc.status[code], String(code));
});
