import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createPrivateKey } from 'node:crypto';
import { copyFile, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Config } from '../src/config/config.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { isProviderError } from '../src/providers/provider-error.js';
import { postgresDependency, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const pgAvailable = requireSystemDependency(test, import.meta.url, postgresDependency());
const pgTest = pgAvailable ? test : test.skip;

/**
 * Purge is crypto-shredding: a copy of everything taken before the purge (the registry file, or
 * PostgreSQL's policy rows and event history; the audit log) and restored afterwards decrypts nothing,
 * because the policy's own availability key is destroyed at its provider. The local keystore's old file
 * is overwritten, so the key's private bytes are nowhere in its directory.
 */
let pgServer: TestPostgres | undefined;
test.after.always(async () => {
  await pgServer?.stop();
});

const ROLES = 'user,system,admin';
const NAME = /^local:(av-demo\.[A-Za-z0-9._-]+)\/1$/;

interface Scenario {
  dir: string;
  overrides: Partial<Config>;
  /** Takes a copy of the registry (file or database) before the purge. */
  snapshot(d: TestDaemon): Promise<() => Promise<void>>;
}

async function shredScenario(t: ExecutionContext, s: Scenario, id: string): Promise<void> {
  const d = await startTestDaemon({ callerRoles: ROLES, ...s.overrides }, { dir: s.dir });
  let running: TestDaemon | undefined = d;
  t.teardown(() => running?.stop());
  const ks = openLocalKeystore(d.config.keystorePath);
  await ks.createKey(`${id}-a`).catch(() => undefined);
  await ks.createKey(`${id}-b`).catch(() => undefined);

  // Created without an availability key: the policy gets its own, and GetPolicy shows it.
  const created = await d.client.createPolicy({
    tenant: 'demo',
    id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: `local:${id}-a`,
    customerKeyB: `local:${id}-b`,
    availabilityKey: '',
  });
  const availability = created.availabilityKey!.uri;
  t.regex(availability, NAME);
  t.is((await d.client.getPolicy('demo', id)).availabilityKey!.uri, availability);
  const keyName = NAME.exec(availability)![1]!;
  const envelope = (
    await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.from('the customer data') })
  ).envelope;
  await d.client.rotateIntermediateKey({ tenant: 'demo', id });
  const envelope2 = (
    await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.from('more customer data') })
  ).envelope;

  // The availability key's private bytes, as they sit in the keystore file now.
  const pem = (
    JSON.parse(await readFile(d.config.keystorePath, 'utf8')) as {
      keys: Record<string, { versions: Array<{ privateKeyPem: string }> }>;
    }
  ).keys[keyName]!.versions[0]!.privateKeyPem;
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  const pemLines = pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{64}$/.test(l));
  t.true(pemLines.length > 20);

  await d.client.revoke({ tenant: 'demo', id, reason: 'customer left' });
  await ks.setEnabled(`${id}-a`, false);
  await ks.setEnabled(`${id}-b`, false);
  t.is(
    (await d.client.decrypt({ tenant: 'demo', envelope, purpose: 'PURPOSE_SYSTEM' })).plaintext.toString(),
    'the customer data',
    'before the purge the availability key still reads',
  );

  // A copy of everything, from before the purge.
  const restoreRegistry = await s.snapshot(d);
  const auditCopy = await readFile(d.config.auditLogPath).catch(() => undefined); // the file trail (PostgreSQL: a table)
  const headCopy = await readFile(`${d.config.auditLogPath}.head`).catch(() => undefined);
  const availabilityCopies = (await d.daemon.registry.get('demo', id))!.versions.flatMap((v) =>
    v.copies.filter((c) => c.role === 'availability'),
  );
  t.is(availabilityCopies.length, 2);
  const oldKeystore = await open(d.config.keystorePath, 'r');
  t.teardown(() => oldKeystore.close().catch(() => undefined));

  const receipt = await d.client.purge({ tenant: 'demo', id });
  t.is(receipt.keyDestructions.length, 1);
  const confirmation = receipt.keyDestructions[0]!;
  t.is(confirmation.provider, 'local');
  t.is(confirmation.keyUri, `local:${keyName}`);
  t.false(confirmation.alreadyDestroyed);
  t.regex(confirmation.action, /overwritten with zeros/);
  t.regex(confirmation.destroyedAt, /^\d{4}-\d\d-\d\dT/);
  const audit = await d.daemon.audit.list({ policyId: id }, 1000);
  t.true(
    audit.some(
      (r) => r.type === 'availability_key.destroyed' && r.policyId === id && r.details?.keyUri === `local:${keyName}`,
    ),
  );

  // The superseded keystore file (still open here) was overwritten with zeros; no file in the directory holds the key.
  const old = await oldKeystore.readFile();
  t.true(old.length > 0);
  t.true(
    old.every((b) => b === 0),
    'the old keystore file was overwritten with zeros',
  );
  for (const name of await readdir(dirname(d.config.keystorePath))) {
    const path = join(dirname(d.config.keystorePath), name);
    if (!(await stat(path)).isFile()) continue;
    const bytes = await readFile(path);
    t.false(bytes.includes(der), `${name} holds the destroyed key (DER)`);
    t.false(
      pemLines.some((l) => bytes.includes(l)),
      `${name} holds the destroyed key (PEM)`,
    );
  }

  // Unwrapping the old availability copies directly through the provider fails: the key is gone.
  for (const copy of availabilityCopies) {
    const err = await d.daemon.provider
      .unwrap(
        { keyUri: copy.keyUri, algorithm: copy.algorithm, ciphertext: Buffer.from(copy.ciphertext, 'base64') },
        { signal: AbortSignal.timeout(10_000) },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    t.true(isProviderError(err) && err.reason === 'key_deleted', 'the availability key is deleted at its provider');
  }

  // Restore the registry and the audit log from before the purge; a fresh daemon decrypts nothing.
  await d.stop();
  running = undefined;
  await restoreRegistry();
  if (auditCopy) await writeBack(d.config.auditLogPath, auditCopy);
  if (headCopy) await writeBack(`${d.config.auditLogPath}.head`, headCopy);
  const fresh = await startTestDaemon({ callerRoles: ROLES, ...s.overrides }, { dir: s.dir });
  running = fresh;
  t.is(
    (await fresh.client.getPolicy('demo', id)).state,
    'POLICY_STATE_REVOKED',
    'the restored copy is the revoked policy, with its wrapped copies',
  );
  for (const env of [envelope, envelope2]) {
    for (const purpose of ['PURPOSE_USER', 'PURPOSE_SYSTEM'] as const) {
      const err = await codeOf(fresh.client.decrypt({ tenant: 'demo', envelope: env, purpose }));
      t.true(
        err.code === grpc.status.FAILED_PRECONDITION || err.code === grpc.status.DATA_LOSS,
        `${purpose}: ${grpc.status[err.code]} ${err.details}`,
      );
    }
  }
  t.is(fresh.provider.counts.unwrap > 0, true, 'the fresh daemon did try the availability copy');
  await fresh.stop();
  running = undefined;
}

async function writeBack(path: string, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(bytes);
  } finally {
    await fh.close();
  }
}

test('file registry: a copy of policies.json and the audit log from before the purge decrypts nothing afterwards', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-shred-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await shredScenario(
    t,
    {
      dir,
      overrides: {},
      async snapshot(d) {
        const copy = join(dir, 'policies.before-purge');
        await copyFile(d.config.registryPath, copy);
        return () => copyFile(copy, d.config.registryPath);
      },
    },
    'shred-file',
  );
});

pgTest(
  'PostgreSQL: the policy rows and event history from before the purge, restored, decrypt nothing afterwards',
  async (t) => {
    pgServer ??= await startTestPostgres();
    const pgUrl = await pgServer.createDatabase('shred');
    const dir = await mkdtemp(join(tmpdir(), 'uwd-shred-pg-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const sql = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) => {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        return (await client.query<T>(text, params)).rows;
      } finally {
        await client.end();
      }
    };
    await shredScenario(
      t,
      {
        dir,
        overrides: { registryBackend: 'postgres', pgUrl, demo: false },
        async snapshot() {
          const policies = await sql('SELECT tenant, id, state, revision, record, updated_at FROM unwrapd.policies');
          const events = await sql('SELECT sequence, type, tenant, policy_id, revision, at FROM unwrapd.policy_events');
          t.true(policies.length > 0 && events.length > 0);
          return async () => {
            await sql('DELETE FROM unwrapd.policies');
            await sql('DELETE FROM unwrapd.policy_events');
            for (const p of policies)
              await sql(
                'INSERT INTO unwrapd.policies (tenant, id, state, revision, record, updated_at) VALUES ($1, $2, $3, $4, $5, $6)',
                [p.tenant, p.id, p.state, p.revision, p.record, p.updated_at],
              );
            for (const e of events)
              await sql(
                'INSERT INTO unwrapd.policy_events (sequence, type, tenant, policy_id, revision, at) VALUES ($1, $2, $3, $4, $5, $6)',
                [e.sequence, e.type, e.tenant, e.policy_id, e.revision, e.at],
              );
          };
        },
      },
      'shred-pg',
    );
  },
);
