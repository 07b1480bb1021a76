import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliInProcess } from './helpers/run-cli.js';
import { startServe } from './helpers/serve-process.js';
import { serveHelp } from '../src/cli/commands/serve.js';
import { SETTINGS } from '../src/config/config.js';

// `config check` runs in-process (runCliInProcess), against the environment given; `serve` in a process.

/** The test process's environment without any UNWRAPD_* variable, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNWRAPD_')));
  return { ...env, ...extra };
}

function configCheck(args: string[], env: Record<string, string>) {
  return runCliInProcess(['config', 'check', ...args], '', { env: cleanEnv(env) });
}

test('config check --json: every setting with its value and source, secrets masked, unknown variables reported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgcli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'unwrapd.json');
  await writeFile(file, JSON.stringify({ cacheMaxEntries: 77, registryBackend: 'postgres' }));
  const { code, stdout } = await configCheck(['--json', '--config', file, '--hedge-delay-ms', '40'], {
    UNWRAPD_DATA_DIR: dir,
    UNWRAPD_PG_URL: 'postgres://unwrapd:hunter2-password@db:5432/unwrapd',
    UNWRAPD_EVENT_GRID_LISTEN: '127.0.0.1:8080',
    UNWRAPD_EVENT_GRID_SECRET: 'a-long-enough-shared-secret',
    UNWRAPD_LISTNE: 'unix:///tmp/typo.sock',
  });
  t.is(code, 0);
  t.false(stdout.includes('hunter2-password'));
  t.false(stdout.includes('a-long-enough-shared-secret'));
  const out = JSON.parse(stdout) as {
    valid: boolean;
    file: string;
    settings: { key: string; value: unknown; source: string; from?: string }[];
    unknownEnv: { name: string; suggestion?: string }[];
  };
  t.true(out.valid);
  t.is(out.file, file);
  t.deepEqual(
    out.settings.map((s) => s.key),
    SETTINGS.map((s) => s.key),
  );
  const by = new Map(out.settings.map((s) => [s.key, s]));
  t.like(by.get('hedgeDelayMs'), { value: 40, source: 'flag', from: '--hedge-delay-ms' });
  t.like(by.get('cacheMaxEntries'), { value: 77, source: 'file', from: 'cacheMaxEntries' });
  t.like(by.get('dataDir'), { value: dir, source: 'env', from: 'UNWRAPD_DATA_DIR' });
  t.like(by.get('listen'), { value: `unix://${dir}/unwrapd.sock`, source: 'default' });
  t.like(by.get('demo'), { value: false, source: 'default' });
  t.like(by.get('pgUrl'), { value: 'postgres://unwrapd:****@db:5432/unwrapd', source: 'env' });
  t.like(by.get('eventGridSecret'), { value: '****', source: 'env' });
  t.deepEqual(out.unknownEnv, [{ name: 'UNWRAPD_LISTNE', suggestion: 'UNWRAPD_LISTEN' }]);
});

test('config check: a human table, and exit 2 with the error naming the setting when invalid', async (t) => {
  const ok = await configCheck(['--max-block-bytes', '65536'], { UNWRAPD_DATA_DIR: '/tmp/uwd-cfgcli-none' });
  t.is(ok.code, 0);
  t.regex(ok.stdout, /^maxBlockBytes +65536 +flag --max-block-bytes$/m);
  t.regex(ok.stdout, /^cacheMaxAgeMs +1800000 +default$/m);
  t.regex(ok.stdout, /configuration is valid/);

  const bad = await configCheck([], { UNWRAPD_CACHE_MAX_AGE_MS: 'soon' });
  t.is(bad.code, 2);
  t.is(
    bad.stderr,
    'unwrapd: config: cacheMaxAgeMs must be an integer from 1000 to 86400000, got "soon" (from UNWRAPD_CACHE_MAX_AGE_MS)\n',
  );
  const badJson = await configCheck(['--json'], { UNWRAPD_REGISTRY_BACKEND: 'postgres' });
  t.is(badJson.code, 2);
  t.like(JSON.parse(badJson.stdout), { valid: false, setting: 'pgUrl' });
});

test('unwrapd serve --help lists every setting of the table: its flag and its environment variable', (t) => {
  const help = serveHelp();
  for (const s of SETTINGS) {
    if (s.flag) t.regex(help, new RegExp(`^  --${s.flag} \\S+ +${s.env}$`, 'm'), s.key);
    else t.true(help.includes(`(config file "${s.fileKey}")`), s.key);
  }
});

test('unwrapd serve logs a warning naming an unknown UNWRAPD_* variable and the setting it probably meant', async (t) => {
  const serve = await startServe(
    t,
    (dir) => cleanEnv({ UNWRAPD_DATA_DIR: dir, UNWRAPD_DEMO: 'false', UNWRAPD_SHUTDWON_TIMEOUT_MS: '100' }),
    /listening on/,
  );
  const stderr = serve.stderr();
  const warning = stderr
    .split('\n')
    .filter((l) => l.includes('unknown environment variable'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(warning.length, 1, stderr);
  t.like(warning[0], {
    level: 'warn',
    variable: 'UNWRAPD_SHUTDWON_TIMEOUT_MS',
    did_you_mean: 'UNWRAPD_SHUTDOWN_TIMEOUT_MS',
  });
  t.is(await serve.terminate(), 0);
});

test('config check never prints a PostgreSQL password: multi-host, bad port, sslpassword, keyword/value', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgcli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases: [url: string, secret: string, args: string[]][] = [
    ['postgres://unwrapd:multi-h0st-pw@h1:5432,h2:5433/unwrapd', 'multi-h0st-pw', ['--json']],
    ['postgres://unwrapd:multi-h0st-pw@h1:5432,h2:5433/unwrapd', 'multi-h0st-pw', []],
    ['postgres://unwrapd:bad-p0rt-pw@db:99999/unwrapd', 'bad-p0rt-pw', ['--json']],
    ['postgres://unwrapd@db:5432/unwrapd?sslmode=verify-full&sslpassword=ssl-key-pw', 'ssl-key-pw', []],
    ["host=db dbname=unwrapd sslpassword='kv ssl pw'", 'kv ssl pw', ['--json']],
  ];
  for (const [url, secret, args] of cases) {
    const env = { UNWRAPD_DATA_DIR: dir, UNWRAPD_REGISTRY_BACKEND: 'postgres', UNWRAPD_PG_URL: url };
    const { code, stdout, stderr } = await configCheck(args, env);
    t.is(code, 0, `${args.join(' ')} ${stderr}`);
    t.true(stdout.includes('pgUrl'));
    t.false(stdout.includes(secret), `${args.join(' ')}: ${stdout}`);
    t.false(stderr.includes(secret), `${args.join(' ')}: ${stderr}`);
  }
});
