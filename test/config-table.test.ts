import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  loadConfig,
  resolveConfig,
  resolveSettings,
  SETTINGS,
  type Config,
} from '../src/config/config.js';
import { knownEnvVars, unknownEnvVars } from '../src/config/env-scan.js';
import { displayValue } from '../src/config/render.js';
import { maskConnectionString } from '../src/config/setting-type.js';
import type { Setting } from '../src/config/setting.js';

/** A raw value each type refuses, from flags and environment variables alike (`flagOnly`: '' means unset in the environment). */
function badRaw(s: Setting): { raw: string; flagOnly?: boolean } | undefined {
  const name = s.type.name;
  const range = /^integer (-?\d+)-(\d+)$/.exec(name);
  if (range) return { raw: 'lots' };
  if (name === 'path') return { raw: '', flagOnly: true };
  if (name === 'boolean') return { raw: 'maybe' };
  if (name === 'octal mode') return { raw: '999' };
  if (name === 'roles (comma-separated)') return { raw: 'user,root' };
  if (name === 'unix:///path | host:port') return { raw: 'not an address' };
  if (name === 'host:port') return { raw: 'no-port' };
  if (name === 'schema name') return { raw: 'PG_BAD' };
  if (name === 'host:port or port') return { raw: '99999' };
  if (name === 'number 0-1') return { raw: '1.5' };
  if (name === 'name') return { raw: 'has space' };
  if (name === 'key base') return { raw: 'nope:' };
  if (name === 'string' || name === 'connection URL' || name === 'JSON array') return undefined;
  if (name.includes(' | ')) return { raw: 'no-such-choice' };
  throw new Error(`no bad sample for type "${name}" (setting ${s.key}): add one to badRaw`);
}

/** Text settings any string passes at parse time: the rule that checks them, or where they are checked. */
const FREE_TEXT: Record<string, string> = {
  socketGroup: 'rule: resolveGroup',
  authorizationFile: 'rule: the file is read and parsed',
  pgUrl: 'rule: required with postgres; checked when connecting',
  eventGridSecret: 'rule: 16+ characters with the webhook',
  tlsCertFile: 'checked at start (src/server/transport-security.ts)',
  tlsKeyFile: 'checked at start (src/server/transport-security.ts)',
  tlsClientCaFile: 'checked at start (src/server/transport-security.ts)',
  pkcs11Module: 'checked when the provider is built',
  pkcs11Token: 'any label',
  pkcs11PinFile: 'read when the provider is built',
  auditShip: 'stdout or a path, opened at start (src/audit/audit-shipper.ts)',
};

test('the table: unique keys, flags, variables and file keys; variables follow the flags; every default passes its type', (t) => {
  const unique = (values: (string | null)[]) => new Set(values.filter((v) => v !== null)).size;
  const flags = SETTINGS.filter((s) => s.flag);
  t.is(unique(SETTINGS.map((s) => s.key)), SETTINGS.length);
  t.is(unique(SETTINGS.map((s) => s.fileKey)), SETTINGS.length);
  t.is(unique(flags.map((s) => s.flag)), flags.length);
  t.is(unique(SETTINGS.map((s) => s.env)), flags.length);
  for (const s of flags) {
    t.is(s.env, `UNWRAPD_${s.flag!.toUpperCase().replace(/-/g, '_')}`, s.key);
    t.regex(s.flag!, /^[a-z0-9]+(-[a-z0-9]+)*$/, s.key);
  }
  for (const s of SETTINGS) {
    t.true(s.summary.length > 0 && s.description.length > 0 && s.defaultText.length > 0, s.key);
    if (!s.derived) t.notThrows(() => s.type.parse(s.type.format(s.default as never)), s.key);
  }
  const c = loadConfig({}, {});
  t.deepEqual(Object.keys(c).sort(), SETTINGS.map((s) => s.key).sort(), 'Config has exactly the settings');
});

test('every setting refuses a bad value from a flag, the environment and the config file, naming the setting and where it came from', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgtab-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.json');
  let checked = 0;
  for (const s of SETTINGS) {
    const bad = badRaw(s);
    if (bad === undefined && s.type.name === 'string')
      t.truthy(FREE_TEXT[s.key], `${s.key}: give it a type that checks it`);
    if (bad && s.flag) {
      const err = t.throws(() => loadConfig({ [s.flag!]: bad.raw }, {}), { instanceOf: ConfigError }, s.key);
      t.true(err?.message.startsWith(s.key), `${s.key}: ${err?.message}`);
      t.true(err?.message.includes(`--${s.flag}`), `${s.key}: ${err?.message}`);
      t.is((err as ConfigError | undefined)?.setting, s.key);
      checked++;
    }
    if (bad && s.env && !bad.flagOnly) {
      const err = t.throws(() => loadConfig({}, { [s.env!]: bad.raw }), { instanceOf: ConfigError }, s.key);
      t.true(err?.message.startsWith(s.key) && err.message.includes(s.env!), `${s.key}: ${err?.message}`);
      checked++;
    }
    // From the config file: a bad text where the type checks text, else a value of the wrong JSON kind.
    await writeFile(file, JSON.stringify({ [s.fileKey]: bad && !bad.flagOnly ? bad.raw : { nested: true } }));
    const err = t.throws(() => loadConfig({ config: file }, {}), { instanceOf: ConfigError }, s.key);
    t.true(err?.message.startsWith(s.key), `${s.key}: ${err?.message}`);
    t.true(err?.message.includes(`"${s.fileKey}" in config file ${file}`), `${s.key}: ${err?.message}`);
    checked++;
  }
  t.true(checked > 2 * SETTINGS.length);
});

test('integers outside their range are refused naming the range; secrets are never echoed', async (t) => {
  for (const s of SETTINGS) {
    const range = /^integer (\d+)-(\d+)$/.exec(s.type.name);
    if (!range || !s.flag) continue;
    for (const n of [Number(range[1]) - 1, Number(range[2]) + 1]) {
      if (n < 0 && range[1] === '0') continue;
      t.throws(() => loadConfig({ [s.flag!]: String(n) }, {}), {
        message: `${s.key} must be an integer from ${range[1]} to ${range[2]}, got "${n}" (from --${s.flag})`,
      });
    }
  }
  const secret = 'not-for-any-log-line';
  const err = t.throws(() =>
    loadConfig({}, { UNWRAPD_EVENT_GRID_LISTEN: '0.0.0.0:1', UNWRAPD_EVENT_GRID_SECRET: 'short' }),
  );
  t.regex(err!.message, /eventGridSecret/);
  t.false(err!.message.includes('short'));
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgtab-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const s of SETTINGS.filter((x) => x.secret)) {
    await writeFile(join(dir, 'c.json'), JSON.stringify({ [s.fileKey]: [secret] }));
    const e = t.throws(() => loadConfig({ config: join(dir, 'c.json') }, {}), { instanceOf: ConfigError });
    t.true(e!.message.startsWith(s.key), e!.message);
    t.false(e!.message.includes(secret), e!.message);
  }
});

test('rules between settings name the settings', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgtab-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases: [Record<string, string>, RegExp, string][] = [
    [{ UNWRAPD_SOCKET_GROUP: 'no-such-group-here' }, /^socketGroup: no group named/, 'socketGroup'],
    [{ UNWRAPD_AUTHORIZATION_FILE: join(dir, 'none.json') }, /cannot read authorizationFile/, 'authorizationFile'],
    [{ UNWRAPD_REGISTRY_BACKEND: 'postgres' }, /needs pgUrl/, 'pgUrl'],
    [
      { UNWRAPD_FEED_RECONNECT_MIN_MS: '500', UNWRAPD_FEED_RECONNECT_MAX_MS: '100' },
      /feedReconnectMaxMs/,
      'feedReconnectMaxMs',
    ],
    [{ UNWRAPD_FLEET_LEASE_MS: '1000', UNWRAPD_FLEET_RENEW_MS: '500' }, /fleetLeaseMs minus/, 'fleetLeaseMs'],
    [
      { UNWRAPD_ADMIN_LISTEN: `unix://${join(dir, 's')}`, UNWRAPD_LISTEN: `unix://${join(dir, 's')}` },
      /adminListen must differ/,
      'adminListen',
    ],
    [
      { UNWRAPD_LISTEN: `unix://${dir}/${'x'.repeat(120)}.sock` },
      /^listen: unix socket path is longer than 107 bytes/,
      'listen',
    ],
  ];
  for (const [env, message, setting] of cases) {
    const err = t.throws(() => loadConfig({}, env), { instanceOf: ConfigError, message }, setting);
    t.is((err as ConfigError | undefined)?.setting, setting);
  }
  // A derived default is checked too: a data dir so long the default socket path cannot be bound.
  t.throws(() => loadConfig({}, { UNWRAPD_DATA_DIR: join(dir, 'd'.repeat(120)) }), {
    message: /^listen: unix socket path is longer than 107 bytes.*\(from the default\)/,
  });
});

test('sources: flag beats environment beats config file beats default, and each value says where it came from', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgtab-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ hedgeDelayMs: 10, maxStreams: 3, cacheMaxEntries: 7 }));
  const r = resolveSettings({
    flags: { config: file, 'hedge-delay-ms': '20' },
    env: { UNWRAPD_HEDGE_DELAY_MS: '30', UNWRAPD_MAX_STREAMS: '4', UNWRAPD_PROBE_MAX_CALLS: '' },
  });
  t.is(r.config.hedgeDelayMs, 20);
  t.is(r.sources.hedgeDelayMs, 'flag');
  t.is(r.config.maxStreams, 4);
  t.is(r.sources.maxStreams, 'env');
  t.is(r.config.cacheMaxEntries, 7);
  t.is(r.sources.cacheMaxEntries, 'file');
  t.is(r.config.probeMaxCalls, 100, 'an empty variable is unset');
  t.is(r.sources.probeMaxCalls, 'default');
  t.is(r.file, file);
});

test('resolveConfig: derived defaults follow the values given, unlike a spread over a loaded config', (t) => {
  const dir = '/tmp/uwd-derived-example';
  const c: Config = resolveConfig({
    dataDir: dir,
    streamSegmentBytes: 2 * 1024 * 1024,
    registryBackend: 'postgres',
    pgUrl: 'postgres://db/x',
  });
  t.is(c.listen, `unix://${dir}/unwrapd.sock`);
  t.is(c.adminListen, `unix://${dir}/admin.sock`);
  t.is(c.keystorePath, join(dir, 'keystore.json'));
  t.is(c.registryPath, join(dir, 'policies.json'));
  t.is(c.auditLogPath, join(dir, 'audit.log'));
  t.is(c.streamMaxSegmentBytes, 2 * 1024 * 1024);
  t.false(c.demo);
  const spread = { ...loadConfig({}, { UNWRAPD_DATA_DIR: '/tmp/elsewhere' }), streamSegmentBytes: 2 * 1024 * 1024 };
  t.is(spread.streamMaxSegmentBytes, 1024 * 1024, 'the trap resolveConfig avoids');
  // Checked like parsed values unless told otherwise.
  t.throws(() => resolveConfig({ refreshIntervalMs: 50 }), {
    instanceOf: ConfigError,
    message: 'refreshIntervalMs must be an integer from 100 to 3600000, got "50" (from a value given in code)',
  });
  t.is(resolveConfig({ refreshIntervalMs: 50 }, { validate: false }).refreshIntervalMs, 50);
  t.throws(() => resolveConfig({ nope: 1 } as Partial<Config>), { message: /unknown setting "nope"/ });
});

test('unknown UNWRAPD_* variables are reported with the closest known name; known and development ones are not', (t) => {
  const env = {
    UNWRAPD_LISTNE: 'x',
    UNWRAPD_MAX_BLOK_BYTES: '1',
    UNWRAPD_SOMETHING_ELSE_ENTIRELY: '1',
    UNWRAPD_LISTEN: 'x',
    UNWRAPD_PKCS11_PIN: '1234',
    UNWRAPD_CONFIG: 'f',
    UNWRAPD_ADDRESS: 'a',
    UNWRAPD_TEST_PG_URL: 'x',
    PATH: '/bin',
  };
  t.deepEqual(unknownEnvVars(env), [
    { name: 'UNWRAPD_LISTNE', suggestion: 'UNWRAPD_LISTEN' },
    { name: 'UNWRAPD_MAX_BLOK_BYTES', suggestion: 'UNWRAPD_MAX_BLOCK_BYTES' },
    { name: 'UNWRAPD_SOMETHING_ELSE_ENTIRELY' },
  ]);
  for (const s of SETTINGS) if (s.env) t.true(knownEnvVars().includes(s.env));
});

test('an unknown config-file key is an error naming it and the closest known key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfgtab-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'c.json'), JSON.stringify({ maxBlockByte: 4096 }));
  t.throws(() => loadConfig({ config: join(dir, 'c.json') }, {}), {
    instanceOf: ConfigError,
    message: `config file ${join(dir, 'c.json')}: unknown setting "maxBlockByte" (did you mean "maxBlockBytes"?)`,
  });
});

test('secrets are masked for display: the password of a connection string, a secret entirely', (t) => {
  t.is(
    maskConnectionString('postgres://u:hunter2@db:5432/x?sslmode=require'),
    'postgres://u:****@db:5432/x?sslmode=require',
  );
  t.is(maskConnectionString('postgres://db/x?password=hunter2'), 'postgres://db/x?password=****');
  t.is(maskConnectionString("host=db password='hunter 2' dbname=x"), 'host=db password=**** dbname=x');
  t.is(maskConnectionString('postgres://u@db/x'), 'postgres://u@db/x');
  // What the URL parser refuses (several hosts, a bad port) and malformed keyword/value text: all of it masked.
  t.is(maskConnectionString('postgres://u:hunter2@h1:5432,h2:5433/x'), '****');
  t.is(maskConnectionString('postgres://u:hunter2@db:99999/x'), '****');
  t.is(maskConnectionString("host=db password='hunter2"), '****');
  t.is(maskConnectionString('mysql://u:hunter2@db/x'), '****');
  // Every query parameter or keyword whose name contains "password", in any case.
  t.is(
    maskConnectionString('postgres://db/x?sslmode=require&sslpassword=hunter2&SSLPassword=h2'),
    'postgres://db/x?sslmode=require&sslpassword=****&SSLPassword=****',
  );
  t.is(maskConnectionString("host=db sslpassword='a \\' b' dbname=x"), 'host=db sslpassword=**** dbname=x');
  const secret = SETTINGS.find((s) => s.key === 'eventGridSecret')!;
  t.is(displayValue(secret, 'a-long-enough-shared-secret'), '****');
  t.is(displayValue(secret, ''), '');
  t.deepEqual(
    SETTINGS.filter((s) => s.secret).map((s) => s.key),
    ['pgUrl', 'eventGridSecret'],
  );
});
