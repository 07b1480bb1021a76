import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config/config.js';

test('defaults: data under .unwrapd, a Unix socket inside it, 4032 KiB blocks, demo on', (t) => {
  const c = loadConfig({}, {});
  t.true(c.dataDir.endsWith('/.unwrapd'));
  t.is(c.listen, `unix://${c.dataDir}/unwrapd.sock`);
  t.is(c.keystorePath, join(c.dataDir, 'keystore.json'));
  t.is(c.registryPath, join(c.dataDir, 'policies.json'));
  t.is(c.maxBlockBytes, 4 * 1024 * 1024 - 64 * 1024);
  t.true(c.demo);
  t.is(c.socketMode, 0o660);
});

test('a flag beats the environment, which beats the config file, which beats the default', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'unwrapd.json');
  await writeFile(
    file,
    JSON.stringify({ listen: '127.0.0.1:1111', maxBlockBytes: 65536, cacheMaxAgeMs: 60000, socketMode: 0o600 }),
  );
  const env = { UNWRAPD_CONFIG: file, UNWRAPD_LISTEN: '127.0.0.1:2222', UNWRAPD_DATA_DIR: dir };
  t.is(loadConfig({}, env).listen, '127.0.0.1:2222');
  t.is(loadConfig({ listen: '127.0.0.1:3333' }, env).listen, '127.0.0.1:3333');
  const fromFile = loadConfig({}, { UNWRAPD_CONFIG: file });
  t.is(fromFile.listen, '127.0.0.1:1111');
  t.is(fromFile.maxBlockBytes, 65536);
  t.is(fromFile.socketMode, 0o600);
  t.is(loadConfig({}, env).dataDir, dir);
  await rm(dir, { recursive: true, force: true });
});

test('bad values are refused with a message naming the setting', async (t) => {
  t.throws(() => loadConfig({ 'max-block-bytes': 'lots' }, {}), {
    instanceOf: ConfigError,
    message: /maxBlockBytes must be an integer/,
  });
  t.throws(() => loadConfig({}, { UNWRAPD_LISTEN: 'unix://relative.sock' }), {
    instanceOf: ConfigError,
    message: /must be absolute/,
  });
  t.throws(() => loadConfig({}, { UNWRAPD_LISTEN: 'not an address' }), {
    instanceOf: ConfigError,
    message: /listen must be/,
  });
  t.throws(() => loadConfig({ demo: 'maybe' }, {}), { instanceOf: ConfigError, message: /demo must be true or false/ });
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'bad.json'), '{"lisen": "x"}');
  t.throws(() => loadConfig({ config: join(dir, 'bad.json') }, {}), {
    instanceOf: ConfigError,
    message: /unknown setting "lisen"/,
  });
  await writeFile(join(dir, 'broken.json'), '{');
  t.throws(() => loadConfig({ config: join(dir, 'broken.json') }, {}), {
    instanceOf: ConfigError,
    message: /not valid JSON/,
  });
  t.throws(() => loadConfig({ config: join(dir, 'missing.json') }, {}), {
    instanceOf: ConfigError,
    message: /cannot read config file/,
  });
  await rm(dir, { recursive: true, force: true });
});

test('fleet settings: postgres needs a URL, the demo is off for it, secrets are never echoed', (t) => {
  t.throws(() => loadConfig({}, { UNWRAPD_REGISTRY_BACKEND: 'postgres' }), {
    instanceOf: ConfigError,
    message: /needs pgUrl/,
  });
  t.throws(() => loadConfig({}, { UNWRAPD_REGISTRY_BACKEND: 'mongo' }), {
    instanceOf: ConfigError,
    message: /registryBackend must be file or postgres/,
  });
  const fleet = loadConfig(
    {},
    { UNWRAPD_REGISTRY_BACKEND: 'postgres', UNWRAPD_PG_URL: 'postgres://u:pw@db/x', UNWRAPD_FEED_GRACE_MS: '2000' },
  );
  t.is(fleet.registryBackend, 'postgres');
  t.false(fleet.demo);
  t.is(fleet.feedGraceMs, 2000);
  t.is(fleet.pgSchema, 'unwrapd');
  t.true(loadConfig({}, {}).demo);
  t.is(loadConfig({}, {}).registryBackend, 'file');
  t.throws(() => loadConfig({}, { UNWRAPD_PG_SCHEMA: 'pg_catalog' }), { instanceOf: ConfigError, message: /pgSchema/ });
  t.throws(() => loadConfig({}, { UNWRAPD_FEED_GRACE_MS: '500', UNWRAPD_FEED_POLL_MS: '500' }), {
    instanceOf: ConfigError,
    message: /feedPollMs must be below feedGraceMs/,
  });
  const err = t.throws(
    () => loadConfig({}, { UNWRAPD_EVENT_GRID_LISTEN: '0.0.0.0:8080', UNWRAPD_EVENT_GRID_SECRET: 'short-secret' }),
    { instanceOf: ConfigError },
  );
  t.false(err?.message.includes('short-secret'));
  t.is(
    loadConfig({}, { UNWRAPD_EVENT_GRID_LISTEN: '0.0.0.0:8080', UNWRAPD_EVENT_GRID_SECRET: 'a-long-enough-secret' })
      .eventGridListen,
    '0.0.0.0:8080',
  );
});

// --- header: authenticated stream header (segmented format v2) ---
test('streamMaxSegmentBytes: default the larger of 1 MiB and streamSegmentBytes; never below what the daemon writes', (t) => {
  t.is(loadConfig({}, {}).streamMaxSegmentBytes, 1024 * 1024);
  t.is(loadConfig({ 'stream-segment-bytes': String(2 * 1024 * 1024) }, {}).streamMaxSegmentBytes, 2 * 1024 * 1024);
  t.is(loadConfig({}, { UNWRAPD_STREAM_MAX_SEGMENT_BYTES: '65536' }).streamMaxSegmentBytes, 65536);
  t.throws(() => loadConfig({ 'stream-max-segment-bytes': '2048', 'stream-segment-bytes': '4096' }, {}), {
    instanceOf: ConfigError,
    message: /streamMaxSegmentBytes must not be below streamSegmentBytes/,
  });
  t.throws(() => loadConfig({ 'stream-max-segment-bytes': String(4 * 1024 * 1024 + 1) }, {}), {
    instanceOf: ConfigError,
    message: /streamMaxSegmentBytes must be an integer from 1024 to 4194304/,
  });
});
