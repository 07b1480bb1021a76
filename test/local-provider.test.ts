import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SecretKey } from '../src/crypto/secret-key.js';
import { isUnwrapdError } from '../src/errors.js';
import { instrumentProvider } from './helpers/instrumented-provider.js';
import {
  KEYSTORE_FORMAT,
  openLocalKeystore,
  type KeyBits,
  type LocalKeystore,
} from '../src/providers/local-keystore.js';
import { createLocalProvider, LOCAL_WRAP_ALGORITHM, parseLocalKeyUri } from '../src/providers/local-provider.js';
import {
  ProviderError,
  providerError,
  REASON_KIND,
  type ProviderErrorKind,
  type ProviderErrorReason,
} from '../src/providers/provider-error.js';
import { createProviderRouter } from '../src/providers/provider-router.js';
import type { CallOptions, RootKeyProvider, WrappedKey } from '../src/providers/root-key-provider.js';

// One shared keystore: RSA-3072 generation costs 0.1-0.5 s a key. Each test owns the keys it changes.
let dir: string;
let path: string;
let store: LocalKeystore;
let provider: RootKeyProvider;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unwrapd-local-'));
  path = join(dir, 'keys', 'keystore.json');
  store = openLocalKeystore(path);
  await Promise.all(['alpha', 'rot', 'toggle', 'doomed', 'watched', 'remote'].map((name) => store.createKey(name)));
  provider = createLocalProvider({ keystorePath: path });
});

test.after.always(async () => {
  await provider?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const call = (): CallOptions => ({ signal: new AbortController().signal });
const newKey = (): SecretKey => SecretKey.copyFrom(randomBytes(32), true);

async function rejectsWith(
  t: ExecutionContext,
  work: Promise<unknown>,
  kind: ProviderErrorKind,
  reason: ProviderErrorReason,
): Promise<ProviderError | undefined> {
  const err = await t.throwsAsync<ProviderError>(work, { instanceOf: ProviderError });
  t.is(err?.kind, kind);
  t.is(err?.reason, reason);
  return err;
}

async function wrapFresh(uri: string): Promise<{ key: SecretKey; wrapped: WrappedKey }> {
  const key = newKey();
  return { key, wrapped: await provider.wrap(uri, key, call()) };
}

async function assertUnwrapsTo(t: ExecutionContext, wrapped: WrappedKey, key: SecretKey): Promise<void> {
  const out = await provider.unwrap(wrapped, call());
  t.true(out.expose().equals(key.expose()));
  out.destroy();
}

test('wrap then unwrap returns the same 32-byte key, under RSA-OAEP-256', async (t) => {
  const resolved = await provider.resolve('local:alpha', call());
  t.deepEqual(resolved, { uri: 'local:alpha/1', algorithm: LOCAL_WRAP_ALGORITHM });
  const { key, wrapped } = await wrapFresh(resolved.uri);
  t.is(wrapped.keyUri, 'local:alpha/1');
  t.is(wrapped.algorithm, 'RSA-OAEP-256');
  t.is(wrapped.ciphertext.length, 384);
  const again = await provider.wrap(resolved.uri, key, call());
  t.false(Buffer.from(again.ciphertext).equals(Buffer.from(wrapped.ciphertext)), 'OAEP is randomized');
  const out = await provider.unwrap(wrapped, call());
  t.is(out.length, 32);
  t.true(out.expose().equals(key.expose()));
});

test('a corrupted or foreign wrapped copy is unwrap_rejected', async (t) => {
  const { wrapped } = await wrapFresh('local:alpha/1');
  const flipped = Buffer.from(wrapped.ciphertext);
  flipped[10] = (flipped[10] ?? 0) ^ 1;
  await rejectsWith(t, provider.unwrap({ ...wrapped, ciphertext: flipped }, call()), 'revoked', 'unwrap_rejected');
  await rejectsWith(
    t,
    provider.unwrap({ ...wrapped, keyUri: 'local:watched/1' }, call()),
    'revoked',
    'unwrap_rejected',
  );
  await rejectsWith(t, provider.unwrap({ ...wrapped, algorithm: 'RSA1_5' }, call()), 'revoked', 'unwrap_rejected');
});

test('rotate: resolve pins the new version and the old version still unwraps', async (t) => {
  const old = await wrapFresh('local:rot');
  t.is(old.wrapped.keyUri, 'local:rot/1', 'wrap pins an unpinned URI');
  const info = await store.rotateKey('rot');
  t.is(info.latestVersion, 2);
  t.is((await provider.resolve('local:rot', call())).uri, 'local:rot/2');
  await assertUnwrapsTo(t, old.wrapped, old.key);
  const fresh = await wrapFresh('local:rot');
  t.is(fresh.wrapped.keyUri, 'local:rot/2');
  await assertUnwrapsTo(t, fresh.wrapped, fresh.key);
  await rejectsWith(
    t,
    provider.unwrap({ ...old.wrapped, keyUri: 'local:rot/2' }, call()),
    'revoked',
    'unwrap_rejected',
  );

  await store.setEnabled('rot', false, 2);
  t.is((await provider.resolve('local:rot', call())).uri, 'local:rot/1', 'resolve pins the latest enabled version');
  await rejectsWith(t, provider.unwrap(fresh.wrapped, call()), 'revoked', 'key_disabled');
  await store.setEnabled('rot', true, 2);
  t.is((await provider.resolve('local:rot', call())).uri, 'local:rot/2');
});

test('a disabled key is key_disabled on unwrap, wrap, resolve and status; re-enabling restores it', async (t) => {
  const { key, wrapped } = await wrapFresh('local:toggle/1');
  await store.setEnabled('toggle', false);
  const err = await rejectsWith(t, provider.unwrap(wrapped, call()), 'revoked', 'key_disabled');
  t.regex(err?.message ?? '', /local:toggle\/1.*disabled/);
  await rejectsWith(t, provider.wrap('local:toggle/1', key, call()), 'revoked', 'key_disabled');
  await rejectsWith(t, provider.resolve('local:toggle', call()), 'revoked', 'key_disabled');
  t.deepEqual(await provider.status('local:toggle/1', call()), {
    uri: 'local:toggle/1',
    usable: false,
    kind: 'revoked',
    reason: 'key_disabled',
  });
  t.deepEqual((await store.list()).find((k) => k.name === 'toggle')?.versions[0]?.state, 'disabled');

  await store.setEnabled('toggle', true);
  await assertUnwrapsTo(t, wrapped, key);
  t.deepEqual(await provider.status('local:toggle/1', call()), { uri: 'local:toggle/1', usable: true });
});

test('a deleted key is key_deleted, its private key is gone from the file, and its name is never reused', async (t) => {
  const { wrapped } = await wrapFresh('local:doomed/1');
  const before = JSON.parse(await readFile(path, 'utf8')) as {
    keys: Record<string, { versions: { privateKeyPem?: string }[] }>;
  };
  const pem = before.keys.doomed?.versions[0]?.privateKeyPem ?? '';
  const pemBody = pem.split('\n')[5] ?? '';
  t.true(pemBody.length > 40);

  const info = await store.deleteKey('doomed');
  t.true(info.deleted);
  t.is(typeof info.deletedAt, 'string');
  const text = await readFile(path, 'utf8');
  t.false(text.includes(pemBody), 'private key bytes are gone from the keystore file');
  const after = JSON.parse(text) as { keys: Record<string, { versions: Record<string, unknown>[] }> };
  t.false('privateKeyPem' in (after.keys.doomed?.versions[0] ?? {}));

  await rejectsWith(t, provider.unwrap(wrapped, call()), 'revoked', 'key_deleted');
  t.like(await provider.status('local:doomed', call()), { usable: false, kind: 'revoked', reason: 'key_deleted' });
  t.like(await store.deleteKey('doomed'), { deleted: true }, 'delete is idempotent');
  const reuse = await t.throwsAsync(store.createKey('doomed'));
  t.true(isUnwrapdError(reuse, 'already_exists'));
  const enable = await t.throwsAsync(store.setEnabled('doomed', true));
  t.true(isUnwrapdError(enable, 'failed_precondition'));
});

test('an unknown key, version or malformed local URI is key_not_found', async (t) => {
  for (const uri of ['local:nope', 'local:alpha/99', 'local:alpha/0', 'local:bad name', 'local:', 'local:alpha/1/2']) {
    await rejectsWith(t, provider.resolve(uri, call()), 'revoked', 'key_not_found');
  }
  const err = await rejectsWith(
    t,
    provider.unwrap(
      { keyUri: 'local:alpha/99', algorithm: LOCAL_WRAP_ALGORITHM, ciphertext: new Uint8Array(384) },
      call(),
    ),
    'revoked',
    'key_not_found',
  );
  t.regex(err?.message ?? '', /local:alpha\/99.*no version 99/);
  t.deepEqual(parseLocalKeyUri('local:a.b-c_d/12'), { name: 'a.b-c_d', version: 12 });
});

test('a change made through another keystore handle is seen by the provider on the next call', async (t) => {
  const { key, wrapped } = await wrapFresh('local:watched/1');
  const cli = openLocalKeystore(path); // what `unwrapd keys disable` does, with a cache of its own
  await cli.setEnabled('watched', false);
  await rejectsWith(t, provider.unwrap(wrapped, call()), 'revoked', 'key_disabled');
  await cli.setEnabled('watched', true);
  await assertUnwrapsTo(t, wrapped, key);
});

test('a change made by another process is seen by the provider on the next call', async (t) => {
  const { key, wrapped } = await wrapFresh('local:remote/1');
  const moduleUrl = new URL('../src/providers/local-keystore.ts', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(moduleUrl)}); await m.openLocalKeystore(${JSON.stringify(path)}).setEnabled('remote', false, 1);`;
  await promisify(execFile)(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  await rejectsWith(t, provider.unwrap(wrapped, call()), 'revoked', 'key_disabled');
  await store.setEnabled('remote', true, 1);
  await assertUnwrapsTo(t, wrapped, key);
});

test('close() waits for a keystore write under way, and a write after close is refused without touching the file', async (t) => {
  const base = join(dir, 'closing');
  const file = join(base, 'keystore.json');
  const closing = createLocalProvider({ keystorePath: file });
  const created = closing.createKey!('local:', 'late', call()); // generating its RSA key when close() is called
  await closing.close();
  const listed = (await openLocalKeystore(file).list()).map((k) => k.name);
  t.is(listed.length, 1, 'the write under way was finished before close() resolved');
  t.is(`local:${listed[0]}/1`, (await created).uri);
  const before = await readdir(base);
  t.deepEqual(before, ['keystore.json'], 'no lock or temp file left');
  await rejectsWith(t, closing.createKey!('local:', 'later', call()), 'unavailable', 'server_error');
  t.deepEqual(await readdir(base), before);
});

test('the keystore file is mode 0600 in a directory created 0700', async (t) => {
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.is((await stat(join(dir, 'keys'))).mode & 0o777, 0o700);
});

test('a keystore readable by group or others is refused with a clear error, unless opted out', async (t) => {
  const loose = join(dir, 'loose', 'keystore.json');
  await mkdir(join(dir, 'loose'), { mode: 0o700 });
  await writeFile(loose, JSON.stringify({ format: KEYSTORE_FORMAT, keys: {} }));
  await chmod(loose, 0o644);
  const err = await t.throwsAsync(openLocalKeystore(loose).list());
  t.true(isUnwrapdError(err, 'failed_precondition'));
  t.regex(err?.message ?? '', /mode 0644.*chmod 600/);
  const write = await t.throwsAsync(openLocalKeystore(loose).setEnabled('x', false));
  t.true(isUnwrapdError(write, 'failed_precondition'), 'writes refuse it too');

  const looseProvider = createLocalProvider({ keystorePath: loose });
  t.like(await looseProvider.status('local:x', call()), { usable: false, kind: 'unavailable', reason: 'server_error' });
  t.deepEqual(await openLocalKeystore(loose, { allowInsecurePermissions: true }).list(), []);
});

test('every write overwrites the superseded file with zeros and leaves no copy behind', async (t) => {
  const base = join(dir, 'scrub');
  const file = join(base, 'keystore.json');
  await mkdir(base, { mode: 0o700 });
  const version = { version: 1, bits: 3072, created: 'c', enabled: true, privateKeyPem: 'FAKE-PEM-MARKER' };
  await writeFile(
    file,
    JSON.stringify({ format: KEYSTORE_FORMAT, keys: { k: { created: 'c', enabled: true, versions: [version] } } }),
    { mode: 0o600 },
  );
  await link(file, join(base, 'observer')); // sees what happens to the superseded inode
  await writeFile(join(base, '.keystore.json.superseded.1.crashed'), 'FAKE-PEM-MARKER', { mode: 0o600 });

  await openLocalKeystore(file).deleteKey('k');
  t.false((await readFile(file, 'utf8')).includes('FAKE-PEM-MARKER'));
  const observed = await readFile(join(base, 'observer'));
  t.true(observed.length > 0 && observed.every((b) => b === 0), 'the superseded bytes were zeroed');
  t.deepEqual(
    (await readdir(base)).sort(),
    ['keystore.json', 'observer'],
    'no superseded copies, temp files or locks left',
  );
});

test("concurrent writers through separate handles never lose each other's changes", async (t) => {
  const base = join(dir, 'concurrent');
  const file = join(base, 'keystore.json');
  await mkdir(base, { mode: 0o700 });
  const names = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const record = {
    created: 'c',
    enabled: true,
    versions: [{ version: 1, bits: 3072, created: 'c', enabled: true, privateKeyPem: 'FAKE' }],
  };
  await writeFile(
    file,
    JSON.stringify({ format: KEYSTORE_FORMAT, keys: Object.fromEntries(names.map((n) => [n, record])) }),
    { mode: 0o600 },
  );
  await Promise.all(names.map((n) => openLocalKeystore(file).setEnabled(n, false)));
  t.deepEqual(
    (await openLocalKeystore(file).list()).map((k) => k.enabled),
    names.map(() => false),
  );
});

test('an aborted signal is unavailable/aborted on every call', async (t) => {
  const signal = AbortSignal.abort();
  const { key, wrapped } = await wrapFresh('local:alpha/1');
  await rejectsWith(t, provider.unwrap(wrapped, { signal }), 'unavailable', 'aborted');
  await rejectsWith(t, provider.wrap('local:alpha/1', key, { signal }), 'unavailable', 'aborted');
  await rejectsWith(t, provider.resolve('local:alpha', { signal }), 'unavailable', 'aborted');
  await rejectsWith(t, provider.status('local:alpha', { signal }), 'unavailable', 'aborted');
});

test('an unreadable or malformed keystore is unavailable/server_error and its content is never quoted', async (t) => {
  const base = join(dir, 'broken');
  await mkdir(join(base, 'is-a-dir.json'), { recursive: true, mode: 0o700 });
  const asDir = createLocalProvider({ keystorePath: join(base, 'is-a-dir.json') });
  await rejectsWith(t, asDir.resolve('local:alpha', call()), 'unavailable', 'server_error');

  const garbled = join(base, 'garbled.json');
  await writeFile(garbled, '{"format": "unwrapd-keystore/1", "keys": {SECRET-MATERIAL', { mode: 0o600 });
  const err = await rejectsWith(
    t,
    createLocalProvider({ keystorePath: garbled }).resolve('local:alpha', call()),
    'unavailable',
    'server_error',
  );
  t.regex(err?.message ?? '', /not valid JSON/);
  t.false((err?.message ?? '').includes('SECRET'));

  const missing = createLocalProvider({ keystorePath: join(base, 'none.json') });
  await rejectsWith(t, missing.resolve('local:alpha', call()), 'revoked', 'key_not_found');
});

test('key names and sizes are validated and list() never shows private keys', async (t) => {
  t.true(isUnwrapdError(await t.throwsAsync(store.createKey('bad name')), 'invalid_argument'));
  t.true(isUnwrapdError(await t.throwsAsync(store.createKey('-lead')), 'invalid_argument'));
  t.true(isUnwrapdError(await t.throwsAsync(store.createKey('small', { bits: 2048 as KeyBits })), 'invalid_argument'));
  t.true(isUnwrapdError(await t.throwsAsync(store.createKey('alpha')), 'already_exists'));
  t.true(isUnwrapdError(await t.throwsAsync(store.rotateKey('nope')), 'not_found'));
  const listed = await store.list();
  t.true(listed.some((k) => k.name === 'alpha' && k.versions[0]?.bits === 3072));
  t.false(JSON.stringify(listed).includes('PRIVATE KEY'));
});

// The classification table: every reason, row by row, and nothing else.
const CLASSIFICATION: [ProviderErrorReason, ProviderErrorKind][] = [
  ['access_denied', 'revoked'],
  ['key_disabled', 'revoked'],
  ['key_deleted', 'revoked'],
  ['key_not_found', 'revoked'],
  ['unwrap_rejected', 'revoked'],
  ['unknown', 'revoked'],
  ['timeout', 'unavailable'],
  ['aborted', 'unavailable'],
  ['throttled', 'unavailable'],
  ['server_error', 'unavailable'],
  ['connection_error', 'unavailable'],
];

for (const [reason, kind] of CLASSIFICATION) {
  test(`classification: ${reason} is ${kind}`, (t) => {
    t.is(REASON_KIND[reason], kind);
    const err = providerError(reason, 'local:x/1', 'm');
    t.like(err, { kind, reason, keyUri: 'local:x/1' });
  });
}

test('classification: the table covers exactly the known reasons', (t) => {
  t.deepEqual(Object.keys(REASON_KIND).sort(), CLASSIFICATION.map(([r]) => r).sort());
});

function fakeProvider(scheme: string): RootKeyProvider & { calls: string[]; closed: boolean } {
  const fake = {
    schemes: [scheme],
    calls: [] as string[],
    closed: false,
    async resolve(keyUri: string) {
      fake.calls.push(`resolve ${keyUri}`);
      return { uri: `${keyUri}/7`, algorithm: 'FAKE' };
    },
    async wrap(keyUri: string) {
      fake.calls.push(`wrap ${keyUri}`);
      return { keyUri, algorithm: 'FAKE', ciphertext: new Uint8Array(1) };
    },
    async unwrap(wrapped: WrappedKey) {
      fake.calls.push(`unwrap ${wrapped.keyUri}`);
      return SecretKey.copyFrom(new Uint8Array(32));
    },
    async status(keyUri: string) {
      fake.calls.push(`status ${keyUri}`);
      return { uri: keyUri, usable: true };
    },
    async close() {
      fake.closed = true;
    },
  };
  return fake;
}

test('router: dispatches by scheme, and an unknown scheme is key_not_found listing the known ones', async (t) => {
  const fake = fakeProvider('fake');
  const router = createProviderRouter([createLocalProvider({ keystorePath: path }), fake]);
  t.deepEqual([...router.schemes], ['local', 'fake']);
  t.is((await router.resolve('local:alpha', call())).uri, 'local:alpha/1');
  t.is((await router.resolve('fake:k', call())).uri, 'fake:k/7');
  await router.unwrap({ keyUri: 'fake:k/7', algorithm: 'FAKE', ciphertext: new Uint8Array(1) }, call());
  t.deepEqual(fake.calls, ['resolve fake:k', 'unwrap fake:k/7']);

  const err = await rejectsWith(
    t,
    router.unwrap({ keyUri: 'vault:k', algorithm: 'X', ciphertext: new Uint8Array(1) }, call()),
    'revoked',
    'key_not_found',
  );
  t.regex(err?.message ?? '', /"vault".*known schemes: local, fake/);
  await rejectsWith(t, router.status('no-scheme-here', call()), 'revoked', 'key_not_found');
  t.throws(() => createProviderRouter([fake, fakeProvider('fake')]), {
    message: /two root-key providers serve the scheme "fake"/,
  });
  await router.close();
  t.true(fake.closed);
});

test('instrumented provider: counts calls per op and injects failures', async (t) => {
  const inst = instrumentProvider(provider);
  const { key, wrapped } = await wrapFresh('local:alpha/1');
  await inst.resolve('local:alpha', call());
  await inst.wrap('local:alpha/1', key, call());
  await Promise.all([inst.unwrap(wrapped, call()), inst.unwrap(wrapped, call())]);
  await inst.status('local:alpha/1', call());
  t.deepEqual({ ...inst.counts }, { resolve: 1, wrap: 1, unwrap: 2, status: 1, createKey: 0, destroyKey: 0 });

  inst.fail = (op, uri) => (op === 'unwrap' ? providerError('throttled', uri, `${uri}: injected`) : undefined);
  await rejectsWith(t, inst.unwrap(wrapped, call()), 'unavailable', 'throttled');
  t.true((await inst.status('local:alpha/1', call())).usable);
  t.is(inst.counts.unwrap, 3, 'failed calls count too');
  inst.resetCounts();
  t.deepEqual({ ...inst.counts }, { resolve: 0, wrap: 0, unwrap: 0, status: 0, createKey: 0, destroyKey: 0 });
});

test('instrumented provider: injected latency ends promptly when the caller aborts', async (t) => {
  const fake = fakeProvider('fake');
  const latencyMs = 120_000;
  const inst = instrumentProvider(fake, { latencyMs });
  const controller = new AbortController();
  const started = Date.now();
  void inst.callStarted('unwrap').then(() => controller.abort()); // abort once the call is waiting
  await rejectsWith(
    t,
    inst.unwrap(
      { keyUri: 'fake:k/1', algorithm: 'FAKE', ciphertext: new Uint8Array(1) },
      { signal: controller.signal },
    ),
    'unavailable',
    'aborted',
  );
  t.true(Date.now() - started < latencyMs / 4, 'ended by the abort, not by the latency');
  t.is(inst.counts.unwrap, 1);
  t.deepEqual(fake.calls, [], 'the inner provider was never reached');

  inst.latencyMs = 30;
  const slowStart = Date.now();
  await inst.status('fake:k', call());
  t.true(Date.now() - slowStart >= 25);
});
