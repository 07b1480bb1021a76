import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UnwrapdError } from '../src/errors.js';
import { createFileRegistry, REGISTRY_FORMAT, type FileRegistryOptions } from '../src/registry/file-registry.js';
import type { PolicyRecord } from '../src/registry/policy.js';
import type { PolicyRegistry } from '../src/registry/policy-registry.js';
import { makePolicyRecord } from './helpers/policy-fixture.js';
import { eventually, registryContract } from './registry-contract.js';
import { childNodeArgs } from './helpers/compiled-child.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The writer child, compiled once for this file (test/helpers/compiled-child.ts). */
const WRITER = await childNodeArgs(join(ROOT, 'test/helpers/registry-writer.ts'));

/** A fresh directory holding `registry/policies.json` (the `registry` directory does not exist yet). */
async function tempRegistryPath(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'unwrapd-file-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'registry', 'policies.json');
}

/** Opens a registry and closes it when the test ends. */
async function openRegistry(
  t: { teardown(fn: () => Promise<void>): void },
  opts: FileRegistryOptions,
): Promise<PolicyRegistry> {
  const registry = createFileRegistry(opts);
  await registry.open();
  t.teardown(() => registry.close());
  return registry;
}

interface WriterChild {
  /** Resolves at the child's first ACK: from then on it is writing. */
  writing: Promise<void>;
  /** Resolves with the ACKed ids when the child exits cleanly. */
  done: Promise<string[]>;
}

/** Starts the writer child (test/helpers/registry-writer.ts). */
function startWriter(path: string, tenant: string, ids: string[]): WriterChild {
  const child = spawn(process.execPath, [...WRITER, path, tenant, ...ids], { cwd: ROOT });
  let out = '';
  let err = '';
  let firstAck: () => void = () => {};
  const writing = new Promise<void>((resolve) => (firstAck = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ACK ')) firstAck();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      firstAck();
      if (code !== 0) return reject(new Error(`writer exited with ${code}: ${err}`));
      resolve(out.split('\n').flatMap((line) => (line.startsWith('ACK ') ? [line.slice(4)] : [])));
    });
  });
  return { writing, done };
}

const runWriter = (path: string, tenant: string, ids: string[]) => startWriter(path, tenant, ids).done;

const ids = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);

registryContract('file', async (limits) => {
  const dir = await mkdtemp(join(tmpdir(), 'unwrapd-registry-contract-'));
  const path = join(dir, 'registry', 'policies.json');
  const opened: PolicyRegistry[] = [];
  const openOne = async () => {
    const registry = createFileRegistry({ path, limits, pollIntervalMs: 200 });
    await registry.open();
    opened.push(registry);
    return registry;
  };
  return {
    registry: await openOne(),
    openAnother: openOne,
    async cleanup() {
      await Promise.all(opened.map((r) => r.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('file registry: two registries in one process creating concurrently lose nothing (lock + re-read)', async (t) => {
  const path = await tempRegistryPath(t);
  const limits = { maxPoliciesPerTenant: 100 };
  const a = await openRegistry(t, { path, limits, watch: false });
  const b = await openRegistry(t, { path, limits, watch: false });
  const fromA = ids('a', 25);
  const fromB = ids('b', 25);
  await Promise.all([
    ...fromA.map((id) => a.create(makePolicyRecord({ id }))),
    ...fromB.map((id) => b.create(makePolicyRecord({ id }))),
  ]);
  const fresh = await openRegistry(t, { path, limits, watch: false });
  t.deepEqual(
    fresh.list().map((p) => p.id),
    [...fromA, ...fromB],
  );
});

test('file registry: a child process writing concurrently with the parent loses nothing', async (t) => {
  const path = await tempRegistryPath(t);
  // No watch, and opened before the child wrote anything: only the re-read under the lock keeps the
  // parent's first write from dropping what the child has acknowledged.
  const parent = await openRegistry(t, { path, watch: false });
  const childIds = ids('c', 45);
  const parentIds = ids('p', 45);
  const child = startWriter(path, 'child', childIds);
  await child.writing;
  for (const id of parentIds) await parent.create(makePolicyRecord({ tenant: 'parent', id }));
  t.deepEqual(await child.done, childIds);
  const fresh = await openRegistry(t, { path, watch: false });
  t.deepEqual(
    fresh.list('child').map((p) => p.id),
    childIds,
  );
  t.deepEqual(
    fresh.list('parent').map((p) => p.id),
    parentIds,
  );
});

test("file registry: the watch picks up another process's writes and notifies", async (t) => {
  const path = await tempRegistryPath(t);
  // A long poll interval: this proves fs.watch, not the periodic stat, delivered the change.
  const registry = await openRegistry(t, { path, pollIntervalMs: 60_000 });
  const seen: PolicyRecord[] = [];
  registry.onChange((p) => seen.push(p));
  const childIds = ['w-1', 'w-2', 'w-3'];
  await runWriter(path, 'remote', childIds);
  await eventually(() => registry.list('remote').length === 3, 5_000);
  await eventually(() => childIds.every((id) => seen.some((p) => p.id === id)), 5_000);
  t.deepEqual(
    registry.list('remote').map((p) => p.id),
    childIds,
  );
});

test('file registry: a corrupt file fails open with an error naming the path, never an empty registry', async (t) => {
  const path = await tempRegistryPath(t);
  await mkdir(join(path, '..'), { recursive: true });
  const valid = makePolicyRecord();
  const cases: Array<[string, string, RegExp]> = [
    [
      'truncated JSON',
      '{"format":"unwrapd-registry/1","revision":3,"policies":[{"tenant":"SECRETSECRET',
      /not valid JSON/,
    ],
    ['empty file', '', /empty/],
    ['wrong format', JSON.stringify({ format: 'other/9', revision: 1, policies: [] }), /format/],
    ['policies not an array', JSON.stringify({ format: REGISTRY_FORMAT, revision: 1, policies: {} }), /policies/],
    [
      'a bad policy field',
      JSON.stringify({
        format: REGISTRY_FORMAT,
        revision: 1,
        policies: [{ ...valid, keys: { ...valid.keys, availability: 7 } }],
      }),
      /policies\[0\].*keys\.availability/,
    ],
    [
      'a duplicate policy',
      JSON.stringify({ format: REGISTRY_FORMAT, revision: 1, policies: [valid, valid] }),
      /appears twice/,
    ],
  ];
  for (const [label, content, rule] of cases) {
    await writeFile(path, content);
    const registry = createFileRegistry({ path, watch: false });
    const err = await t.throwsAsync(registry.open(), { code: 'internal' }, label);
    t.true(err?.message.includes(path), `${label}: names the path`);
    t.regex(err?.message ?? '', rule, label);
    t.false(err?.message.includes('SECRETSECRET'), `${label}: quotes no file content`);
  }
});

test('file registry: a reload that cannot parse keeps the old snapshot and reports only the path', async (t) => {
  const path = await tempRegistryPath(t);
  const errors: UnwrapdError[] = [];
  let checks = 0;
  const registry = await openRegistry(t, {
    path,
    pollIntervalMs: 20,
    onError: (e) => errors.push(e),
    onReloadChecked: () => checks++,
  });
  await registry.create(makePolicyRecord({ id: 'kept' }));
  const good = await readFile(path, 'utf8');
  await writeFile(`${path}.garbage`, '{"policies": [ SECRETSECRET');
  await rename(`${path}.garbage`, path);
  await eventually(() => errors.length > 0, 5_000);
  t.is(registry.get('contoso', 'kept')?.id, 'kept');
  t.true(errors[0]?.message.includes(path));
  t.false(errors.some((e) => e.message.includes('SECRETSECRET') || e.cause !== undefined));
  // Five more checks of the same broken file: still one report.
  const seenChecks = checks;
  await eventually(() => checks >= seenChecks + 5, 30_000);
  t.is(errors.length, 1, 'the same broken file is reported once, not on every poll');

  // Writes refuse to build on a corrupt file rather than overwrite it.
  await t.throwsAsync(registry.create(makePolicyRecord({ id: 'next' })), { code: 'internal' });

  // Once the file is good again, the registry follows it.
  await writeFile(`${path}.fixed`, good);
  await rename(`${path}.fixed`, path);
  await registry.create(makePolicyRecord({ id: 'next' }));
  t.deepEqual(
    registry.list().map((p) => p.id),
    ['kept', 'next'],
  );
});

test('file registry: the file is mode 0600 and a directory it creates 0700', async (t) => {
  const path = await tempRegistryPath(t);
  const registry = await openRegistry(t, { path, watch: false });
  t.is((await stat(join(path, '..'))).mode & 0o777, 0o700);
  await registry.create(makePolicyRecord());
  t.is((await stat(path)).mode & 0o777, 0o600);
  await registry.update({ ...makePolicyRecord(), name: 'again' }, 1);
  t.is((await stat(path)).mode & 0o777, 0o600);
});

test('file registry: a missing file is an empty registry, and the first write creates the document', async (t) => {
  const path = await tempRegistryPath(t);
  const registry = await openRegistry(t, { path });
  t.deepEqual(registry.list(), []);
  await t.throwsAsync(stat(path), { code: 'ENOENT' });
  await registry.create(makePolicyRecord({ id: 'a' }));
  await registry.create(makePolicyRecord({ id: 'b' }));
  const doc = JSON.parse(await readFile(path, 'utf8')) as {
    format: string;
    revision: number;
    policies: PolicyRecord[];
  };
  t.is(doc.format, REGISTRY_FORMAT);
  t.is(doc.revision, 2);
  t.deepEqual(
    doc.policies.map((p) => p.id),
    ['a', 'b'],
  );
});

test('file registry: writes leave no temp or lock files, and sweep temp files a killed writer left', async (t) => {
  const path = await tempRegistryPath(t);
  const dir = join(path, '..');
  await mkdir(dir, { recursive: true });
  const leftover = '.policies.json.99999.0123456789ab.tmp';
  await writeFile(join(dir, leftover), '{"half": ');
  await writeFile(join(dir, 'unrelated.tmp'), 'not ours');
  const registry = await openRegistry(t, { path, watch: false });
  await registry.create(makePolicyRecord());
  t.deepEqual((await readdir(dir)).sort(), ['policies.json', 'unrelated.tmp']);
});

test('file registry: a lock left by a dead process, or an orphan with our own pid, does not block writes', async (t) => {
  const path = await tempRegistryPath(t);
  const registry = await openRegistry(t, { path, watch: false, lockTimeoutMs: 3_000 });
  const deadPid = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('exit', () => resolve(child.pid ?? 0));
  });
  await writeFile(`${path}.lock`, `${deadPid}@${hostname()}#0123456789abcdef`);
  await registry.create(makePolicyRecord({ id: 'after-dead-owner' }));
  // A restarted container often gets the same pid as the instance that died holding the lock.
  await writeFile(`${path}.lock`, `${process.pid}@${hostname()}#fedcba9876543210`);
  await registry.create(makePolicyRecord({ id: 'after-own-pid-orphan' }));
  t.is(registry.list().length, 2);
  await t.throwsAsync(stat(`${path}.lock`), { code: 'ENOENT' });
});

test('file registry: create refuses a malformed record, naming the field but never its value', async (t) => {
  const path = await tempRegistryPath(t);
  const registry = await openRegistry(t, { path, watch: false });
  const base = makePolicyRecord();
  const [version] = base.versions;
  if (!version) return t.fail('fixture has no version');
  const [copy] = version.copies;
  if (!copy) return t.fail('fixture has no copy');
  const cases: Array<[Partial<PolicyRecord> | Record<string, unknown>, RegExp]> = [
    [{ id: 'has space SECRETSECRET' }, /id must be 1-64 characters/],
    [{ mode: 'SECRETSECRET' }, /mode must be one of mailbox, files/],
    [{ mode: 'files', geo: '' }, /geo is required in files mode/],
    [
      { keys: { 'customer-a': base.keys['customer-a'], 'customer-b': base.keys['customer-b'] } },
      /keys\.availability must be a string/,
    ],
    [{ keys: { ...base.keys, availability: 'SECRETSECRET' } }, /keys\.availability must be a key URI/],
    [
      { versions: [{ ...version, copies: [{ ...copy, ciphertext: 'SECRET*SECRET' }, ...version.copies.slice(1)] }] },
      /versions\[0\]\.copies\[0\]\.ciphertext must be base64/,
    ],
    [{ activeVersion: 2 }, /activeVersion must name one of versions/],
    [{ minDecryptVersion: 2 }, /minDecryptVersion must not exceed activeVersion/],
    [{ versions: [version, version] }, /versions\[1\]\.version is a duplicate/],
    [{ rollProgress: { done: 3, total: 2 } }, /rollProgress\.done must not exceed/],
    [{ createdAt: 'SECRETSECRET' }, /createdAt must be an RFC 3339 timestamp/],
  ];
  for (const [override, rule] of cases) {
    const record = { ...base, ...override } as PolicyRecord;
    const err = await t.throwsAsync(registry.create(record), { code: 'invalid_argument' }, String(rule));
    t.regex(err?.message ?? '', rule);
    t.false(/SECRET/.test(err?.message ?? ''), `${String(rule)}: the value is not echoed`);
  }
  t.deepEqual(registry.list(), []);
});

test('file registry: an update may not move a files-mode policy into an occupied geo', async (t) => {
  const path = await tempRegistryPath(t);
  const registry = await openRegistry(t, { path, watch: false });
  await registry.create(makePolicyRecord({ id: 'eur', mode: 'files', geo: 'EUR' }));
  const nam = await registry.create(makePolicyRecord({ id: 'nam', mode: 'files', geo: 'NAM' }));
  await t.throwsAsync(registry.update({ ...nam, geo: 'EUR' }, nam.revision), { code: 'failed_precondition' });
  t.is(registry.get('contoso', 'nam')?.geo, 'NAM');
});

test('file registry: records handed out are frozen, so no caller can change the snapshot in place', async (t) => {
  const path = await tempRegistryPath(t);
  const registry = await openRegistry(t, { path, watch: false });
  await registry.create(makePolicyRecord());
  const stored = registry.get('contoso', 'policy-1');
  if (!stored) return t.fail('missing');
  t.throws(() => {
    (stored as { state: string }).state = 'purged';
  });
  t.throws(() => {
    (stored.versions[0]?.copies as unknown[]).pop();
  });
  t.is(registry.get('contoso', 'policy-1')?.state, 'active');
});

test('file registry: using a registry before open fails clearly, and close stops notifications', async (t) => {
  const path = await tempRegistryPath(t);
  const unopened = createFileRegistry({ path });
  t.throws(() => unopened.list(), { code: 'failed_precondition', message: /not open/ });
  const registry = createFileRegistry({ path, pollIntervalMs: 20 });
  await registry.open();
  const seen: string[] = [];
  registry.onChange((p) => seen.push(p.id));
  // A second registry on the same file, left open, is the witness that the write was there to be seen.
  let witnessChecks = 0;
  const witnessSaw: string[] = [];
  const witness = await openRegistry(t, { path, pollIntervalMs: 20, onReloadChecked: () => witnessChecks++ });
  witness.onChange((p) => witnessSaw.push(p.id));
  await registry.close();
  await runWriter(path, 'late', ['after-close']);
  await eventually(() => witnessSaw.includes('after-close'), 30_000);
  const after = witnessChecks;
  await eventually(() => witnessChecks >= after + 3, 30_000);
  t.deepEqual(seen, [], 'the closed registry heard nothing');
  await t.throwsAsync(registry.create(makePolicyRecord()), { code: 'unavailable' });
});
