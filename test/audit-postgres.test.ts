import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresAuditTrail } from '../src/audit/postgres-audit-trail.js';
import { UnwrapdError, isUnwrapdError } from '../src/errors.js';
import { PostgresRegistry } from '../src/registry/postgres/postgres-registry.js';
import { makePolicyRecord } from './helpers/policy-fixture.js';
import { runCliInProcess } from './helpers/run-cli.js';
import { postgresDependency, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const pgAvailable = requireSystemDependency(test, import.meta.url, postgresDependency());
// Each test has a database of its own: they run concurrently.
const pgTest = pgAvailable ? test : test.skip;

/**
 * The PostgreSQL audit trail: a change and its record commit together or not at all; instances writing at
 * once make one valid chain; `unwrapd audit verify` finds an edited, deleted or reordered row.
 */
// The CLI runs in-process (runCliInProcess); the executable in a process: cli-usage.test.ts.

let pgServer: TestPostgres | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

test.before(async () => {
  if (!pgAvailable) return;
  pgServer = await startTestPostgres();
});

test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await pgServer?.stop();
});

/**
 * connectTimeoutMs also bounds the wait for a pooled connection: the bursts of appends below queue on a pool of
 * four behind the chain lock, however slow a saturated machine makes each one.
 */
const POOL_WAIT_MS = 60_000;

/** A registry on `url`, open, closed after the file's tests (the audit trails here write through its pool). */
async function openRegistry(url: string): Promise<PostgresRegistry> {
  const registry = new PostgresRegistry({ connectionString: url, fleetAckWait: false, connectTimeoutMs: POOL_WAIT_MS });
  await registry.open();
  cleanups.push(() => registry.close());
  return registry;
}

const dbOf = (url: string) => new URL(url).pathname.slice(1);

async function pgDaemon(url: string): Promise<TestDaemon> {
  const d = await startTestDaemon({ registryBackend: 'postgres', pgUrl: url, demo: true });
  cleanups.push(() => d.stop());
  return d;
}

async function rows(url: string, where = 'true') {
  return (
    await pgServer!.query<{ seq: string; type: string; tenant: string; policy_id: string }>(
      dbOf(url),
      `SELECT seq, type, tenant, policy_id FROM unwrapd.audit_records WHERE ${where} ORDER BY seq`,
    )
  ).rows;
}

async function verifyCli(url: string): Promise<{ code: number; stdout: string }> {
  const r = await runCliInProcess(['audit', 'verify', '--pg-url', url]);
  return { code: r.code ?? -1, stdout: r.stdout };
}

pgTest('a Revoke whose transaction fails leaves no audit row; one that commits always has exactly one', async (t) => {
  const url = await pgServer!.createDatabase('audit_tx');
  const d = await pgDaemon(url);
  await createPolicy(d.client, 'tx');
  // Fails the transaction at COMMIT, after the policy row, its event and its audit record were all written.
  await pgServer!.query(
    dbOf(url),
    `CREATE FUNCTION public.refuse_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
     CREATE CONSTRAINT TRIGGER refuse_revoke AFTER INSERT ON unwrapd.audit_records
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = 'policy.revoked')
       EXECUTE FUNCTION public.refuse_revoke();`,
  );
  const failed = await codeOf(d.client.revoke({ tenant: 'demo', id: 'tx', reason: 'first try' }));
  t.is(failed.code, 14, 'UNAVAILABLE: the write failed');
  t.is(d.daemon.registry.get('demo', 'tx')!.state, 'active', 'nothing was revoked');
  const stored = await pgServer!.query<{ state: string }>(
    dbOf(url),
    `SELECT state FROM unwrapd.policies WHERE id = 'tx'`,
  );
  t.is(stored.rows[0]!.state, 'active');
  t.deepEqual(await rows(url, `type = 'policy.revoked'`), [], 'no audit row of the revoke that failed');

  await pgServer!.query(dbOf(url), 'DROP TRIGGER refuse_revoke ON unwrapd.audit_records');
  const before = d.daemon.audit.head().count;
  await d.client.revoke({ tenant: 'demo', id: 'tx', reason: 'second try' });
  const revoked = await rows(url, `type = 'policy.revoked'`);
  t.is(revoked.length, 1, 'the revoke that committed has its record');
  t.is(revoked[0]!.policy_id, 'tx');
  t.is(Number(revoked[0]!.seq), before + 1, 'the failed attempt took no sequence number');
  await d.client.revoke({ tenant: 'demo', id: 'tx', reason: 'again' }); // idempotent: no second record
  t.is((await rows(url, `type = 'policy.revoked'`)).length, 1);
  const all = await rows(url);
  t.deepEqual(
    all.map((r) => Number(r.seq)),
    all.map((_, i) => i + 1),
    'no gap in the chain',
  );
  t.is((await verifyCli(url)).code, 0);
});

pgTest('a record is timed after the chain lock: at never decreases with seq, whoever waited', async (t) => {
  const url = await pgServer!.createDatabase('audit_at_order');
  // One clock for both instances, strictly increasing at each reading: a record timed before it waited for the
  // lock would carry an earlier time than the one that held the lock before it.
  let tick = Date.parse('2026-01-01T00:00:00Z');
  const now = () => new Date(tick++);
  const trails = await Promise.all(
    [0, 1].map(async () => {
      const registry = await openRegistry(url);
      const trail = new PostgresAuditTrail({ database: registry.database(), now });
      await trail.open();
      return trail;
    }),
  );
  // The database's clock when none is injected: taken after the lock too.
  const dbClock = await (async () => {
    const registry = await openRegistry(url);
    return new PostgresAuditTrail({ database: registry.database() });
  })();
  const appendAll = (list: PostgresAuditTrail[]) =>
    Promise.all(
      list.flatMap((trail, i) =>
        Array.from({ length: 30 }, (_, n) =>
          trail.append({ type: 'availability_key.used', tenant: 't', policyId: 'p', requestId: `i${i}-${n}` }),
        ),
      ),
    );
  await appendAll(trails);
  const injected = (await dbClock.list({}, 1000)).map((r) => Date.parse(r.at));
  t.is(injected.length, 60);
  t.deepEqual(
    injected,
    [...injected].sort((a, b) => a - b),
    'with the injected clock, at rises with seq',
  );
  await appendAll([dbClock, dbClock]);
  const all = await dbClock.list({}, 1000);
  t.is(all.length, 120);
  const fromDb = all.slice(60).map((r) => Date.parse(r.at));
  t.true(
    fromDb.every((at, i) => i === 0 || at >= fromDb[i - 1]!),
    'with the database clock, at never decreases with seq',
  );
  t.true((await dbClock.verify()).ok);
});

pgTest('two instances appending and changing policies at once produce one valid chain', async (t) => {
  const url = await pgServer!.createDatabase('audit_two');
  const instances = await Promise.all(
    [0, 1].map(async () => {
      const registry = await openRegistry(url);
      const trail = new PostgresAuditTrail({ database: registry.database() });
      await trail.open();
      return { registry, trail };
    }),
  );
  const [a, b] = instances;
  await a!.registry.create(makePolicyRecord({ tenant: 't', id: 'shared' }));
  const each = 40;
  const appends = instances.flatMap((inst, i) =>
    Array.from({ length: each }, (_, n) =>
      inst.trail.append({ type: 'availability_key.used', tenant: 't', policyId: 'shared', requestId: `i${i}-${n}` }),
    ),
  );
  // Policy writes carrying their records, from both instances, racing the appends (conflicts are retried).
  const writes = [a!, b!].map(async (inst, i) => {
    for (let n = 0; n < 5;) {
      const current = inst.registry.get('t', 'shared')!;
      const pending = inst.trail.prepare(() => [
        { type: 'policy.rotated', tenant: 't', policyId: 'shared', reason: `w${i}-${n}` },
      ]);
      try {
        await inst.registry.update({ ...current, name: `w${i}-${n}` }, current.revision, { within: pending.within });
        await pending.settle();
        n++;
      } catch {
        await new Promise((r) => setImmediate(r)); // a revision conflict: the other instance wrote; again
      }
    }
  });
  await Promise.all([...appends, ...writes]);
  const result = await a!.trail.verify();
  t.true(result.ok, result.problem);
  t.is(result.records, 2 * each + 10);
  t.is((await rows(url, `type = 'policy.rotated'`)).length, 10, 'each committed write has exactly one record');
  t.is((await verifyCli(url)).code, 0);
});

pgTest(
  "a closed trail refuses appends and a write's records (the write rolls back); one under way is finished",
  async (t) => {
    const url = await pgServer!.createDatabase('audit_closed');
    const registry = await openRegistry(url);
    const trail = new PostgresAuditTrail({ database: registry.database() });
    await trail.open();
    await registry.create(makePolicyRecord({ tenant: 't', id: 'closed' }));
    const used = { type: 'availability_key.used', tenant: 't', policyId: 'closed' } as const;
    const late = trail.prepare(() => [{ type: 'policy.rotated', tenant: 't', policyId: 'closed' }]);
    const started = trail.append(used); // under way: close() waits for it
    await trail.close();
    t.is((await started).seq, 1);

    const err = await t.throwsAsync(trail.append(used), { instanceOf: UnwrapdError });
    t.is(err?.code, 'unavailable');
    t.is(err?.reason, 'AUDIT_UNAVAILABLE');
    t.is(t.throws(() => trail.prepare(() => [used]), { instanceOf: UnwrapdError })?.reason, 'AUDIT_UNAVAILABLE');
    // Prepared before close, its hook runs after: refused inside the change's transaction, which rolls back.
    const current = registry.get('t', 'closed')!;
    const write = await t.throwsAsync(
      registry.update({ ...current, name: 'renamed' }, current.revision, { within: late.within }),
    );
    t.true(isUnwrapdError(write, 'unavailable'));
    t.is(registry.get('t', 'closed')!.name, current.name, 'the change was not committed');
    t.deepEqual(
      (await rows(url)).map((r) => r.seq),
      ['1'],
      'no row written after close',
    );
  },
);

pgTest('an edited, deleted or reordered row is detected by audit verify; the table refuses changes', async (t) => {
  const url = await pgServer!.createDatabase('audit_tamper');
  const registry = await openRegistry(url);
  const trail = new PostgresAuditTrail({ database: registry.database() });
  for (let i = 1; i <= 6; i++) await trail.append({ type: 'cache.evicted', tenant: 'demo', policyId: `p${i}` });
  t.regex((await verifyCli(url)).stdout, /^ok: 6 records/);

  const db = dbOf(url);
  const refused = await pgServer!
    .query(db, `UPDATE unwrapd.audit_records SET tenant = 'x' WHERE seq = 2`)
    .catch((e: Error) => e);
  t.regex(String(refused), /append-only/, 'the trigger refuses an UPDATE');
  const deleted = await pgServer!.query(db, `DELETE FROM unwrapd.audit_records WHERE seq = 2`).catch((e: Error) => e);
  t.regex(String(deleted), /append-only/, 'and a DELETE');

  // A tamperer who owns the table disables the triggers first.
  const tamper = async (sql: string) => {
    await pgServer!.query(
      db,
      `BEGIN; ALTER TABLE unwrapd.audit_records DISABLE TRIGGER USER; ${sql}; ALTER TABLE unwrapd.audit_records ENABLE TRIGGER USER; COMMIT;`,
    );
  };
  const snapshot = `CREATE TABLE public.keep AS SELECT * FROM unwrapd.audit_records`;
  const restore = `DELETE FROM unwrapd.audit_records; INSERT INTO unwrapd.audit_records SELECT * FROM public.keep`;
  await pgServer!.query(db, snapshot);

  await tamper(`UPDATE unwrapd.audit_records SET record = replace(record, '"p3"', '"pX"') WHERE seq = 3`);
  let out = await verifyCli(url);
  t.is(out.code, 1);
  t.regex(out.stdout, /BROKEN: row seq 3: .*(edited)/);
  await tamper(restore);

  await tamper(`UPDATE unwrapd.audit_records SET tenant = 'other' WHERE seq = 4`);
  out = await verifyCli(url);
  t.is(out.code, 1);
  t.regex(out.stdout, /row seq 4: its columns do not match its record/);
  await tamper(restore);

  await tamper(`DELETE FROM unwrapd.audit_records WHERE seq = 2`);
  out = await verifyCli(url);
  t.is(out.code, 1);
  t.regex(out.stdout, /row seq 3: sequence 3, expected 2/);
  await tamper(restore);

  // Reordered: rows 2 and 5 swap places in the sequence (each keeps its own record).
  await tamper(
    `UPDATE unwrapd.audit_records SET seq = seq + 1000 WHERE seq IN (2, 5); UPDATE unwrapd.audit_records SET seq = CASE seq WHEN 1002 THEN 5 ELSE 2 END WHERE seq > 1000`,
  );
  out = await verifyCli(url);
  t.is(out.code, 1);
  t.regex(out.stdout, /row seq 2: /);
  await tamper(restore);
  t.is((await verifyCli(url)).code, 0, 'restored, it verifies again');
});

pgTest('an export from the PostgreSQL trail verifies on its own', async (t) => {
  const url = await pgServer!.createDatabase('audit_export');
  const registry = await openRegistry(url);
  const trail = new PostgresAuditTrail({ database: registry.database() });
  for (let i = 1; i <= 5; i++) await trail.append({ type: 'access.denied', tenant: 'demo', policyId: `p${i}` });
  const dir = await mkdtemp(join(tmpdir(), 'uwd-pgexport-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const archive = join(dir, 'export.jsonl');
  const exported = await runCliInProcess([
    'audit',
    'export',
    '--pg-url',
    url,
    '--from',
    '2',
    '--to',
    '4',
    '--out',
    archive,
  ]);
  t.is(exported.code, 0, exported.stderr);
  const out = await runCliInProcess(['audit', 'verify', '--export', archive]);
  t.is(out.code, 0, out.stderr);
  t.regex(out.stdout, /^ok: 3 records \(2\.\.4\)/);
});
