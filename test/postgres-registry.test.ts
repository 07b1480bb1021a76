import test from 'ava';
import { performance } from 'node:perf_hooks';
import {
  describeConnection,
  FleetUnconfirmedError,
  PostgresRegistry,
} from '../src/registry/postgres/postgres-registry.js';
import { eventually, registryContract, type RegistryFixture } from './registry-contract.js';
import { fakeCopies, makePolicyRecord } from './helpers/policy-fixture.js';
import { postgresDependency, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const pgAvailable = requireSystemDependency(test, import.meta.url, postgresDependency());
const pgTest = pgAvailable ? test : test.skip;

let pgServer: TestPostgres | undefined;
let dbUrl = '';
let schemas = 0;

test.before(async () => {
  if (!pgAvailable) return;
  pgServer = await startTestPostgres();
  dbUrl = await pgServer.createDatabase('contract');
});

test.after.always(async () => {
  await pgServer?.stop();
});

registryContract(
  'postgres',
  async (limits) => {
    // A fresh schema per test: fresh, empty storage in one database.
    const schema = `contract_${schemas++}`;
    const opened: PostgresRegistry[] = [];
    const open = async () => {
      // connectTimeoutMs also bounds the wait for a pooled connection: the contract's bursts of concurrent writes
      // (20 creates over a pool of 4) wait their turn, however slow a saturated machine makes each transaction.
      const r = new PostgresRegistry({
        connectionString: dbUrl,
        schema,
        limits,
        feedPollMs: 200,
        feedGraceMs: 2_000,
        connectTimeoutMs: 60_000,
      });
      await r.open();
      opened.push(r);
      return r;
    };
    const registry = await open();
    const fixture: RegistryFixture = {
      registry,
      openAnother: open,
      async cleanup() {
        await Promise.all(opened.map((r) => r.close()));
      },
    };
    return fixture;
  },
  pgTest,
);

// ---- PostgreSQL-specific behaviour: migrations, the event log, the feed, deafness, the fleet wait ----

const freshSchema = () => `s_${schemas++}`;

async function openRegistry(
  t: import('ava').ExecutionContext,
  opts: Partial<ConstructorParameters<typeof PostgresRegistry>[0]> & { schema: string },
) {
  const r = new PostgresRegistry({
    connectionString: dbUrl,
    feedPollMs: 100,
    feedGraceMs: 1_000,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    fleetLeaseMs: 3_000,
    fleetRenewMs: 100,
    fleetFenceMarginMs: 1_000,
    ...opts,
  });
  await r.open();
  t.teardown(() => r.close());
  return r;
}

const dbName = () => new URL(dbUrl).pathname.slice(1);

pgTest('migrations are applied once, in order, under a lock, and recorded in schema_migrations', async (t) => {
  const schema = freshSchema();
  // Four instances starting together on an empty schema.
  const registries = await Promise.all([1, 2, 3, 4].map(() => openRegistry(t, { schema })));
  const applied = registries.flatMap((r) => r.migration?.applied ?? []);
  t.deepEqual(applied.sort(), [1, 2, 3, 4], 'each migration applied by exactly one instance');
  const rows = await pgServer!.query<{ version: number; name: string }>(
    dbName(),
    `SELECT version, name FROM ${schema}.schema_migrations ORDER BY version`,
  );
  t.deepEqual(
    rows.rows.map((r) => r.version),
    [1, 2, 3, 4],
  );
  const again = await openRegistry(t, { schema });
  t.deepEqual(again.migration?.applied, []);
  t.is(again.migration?.current, 4);
});

pgTest('every change appends a typed event in the same transaction, replayable from a sequence', async (t) => {
  const schema = freshSchema();
  const r = await openRegistry(t, { schema });
  const p = await r.create(makePolicyRecord({ id: 'ev' }));
  const keysB = { ...p.keys, 'customer-b': 'local:contoso-ev-b/2' };
  const rolled = await r.update(
    { ...p, keys: keysB, versions: [{ ...p.versions[0]!, copies: fakeCopies(keysB) }] },
    p.revision,
  );
  const renamed = await r.update({ ...rolled, name: 'renamed' }, rolled.revision);
  const rotated = await r.update(
    {
      ...renamed,
      activeVersion: 2,
      versions: [...renamed.versions, { version: 2, createdAt: p.createdAt, copies: fakeCopies(keysB) }],
    },
    renamed.revision,
  );
  const revoked = await r.update({ ...rotated, state: 'revoked', stateReason: 'test' }, rotated.revision);
  await r.update({ ...revoked, state: 'purged', versions: [] }, revoked.revision);
  const events = await r.events.replay(0, { limit: 100 });
  t.deepEqual(
    events.map((e) => `${e.sequence}:${e.type}@${e.revision}`),
    ['1:created@1', '2:rolled@2', '3:updated@3', '4:rotated@4', '5:revoked@5', '6:purged@6'],
  );
  t.deepEqual(
    (await r.events.replay(4, { limit: 100 })).map((e) => e.type),
    ['revoked', 'purged'],
  );
  t.deepEqual(await r.events.replay(0, { tenant: 'nobody', limit: 100 }), []);
  // The feed applies them here too, in order, and the event rows hold no record (a purge leaves no copy behind).
  await eventually(() => r.events.lastSequence() === 6);
  const columns = await pgServer!.query<{ column_name: string }>(
    dbName(),
    `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'policy_events'`,
    [schema],
  );
  t.deepEqual(columns.rows.map((c) => c.column_name).sort(), [
    'at',
    'policy_id',
    'revision',
    'sequence',
    'tenant',
    'type',
  ]);
});

pgTest('a revoke is acknowledged (awaitFleet) only once every other live instance has applied it', async (t) => {
  const schema = freshSchema();
  const a = await openRegistry(t, { schema });
  const others = await Promise.all([1, 2, 3].map(() => openRegistry(t, { schema })));
  const created = await a.create(makePolicyRecord({ id: 'fleet' }));
  await eventually(() => others.every((o) => o.get('contoso', 'fleet') !== undefined));
  await a.update({ ...created, state: 'revoked' }, created.revision);
  await a.awaitFleet();
  // No waiting here: at the moment the acknowledgement resolved, every instance already had it.
  t.deepEqual(
    others.map((o) => o.get('contoso', 'fleet')?.state),
    ['revoked', 'revoked', 'revoked'],
  );
  t.deepEqual(a.lastFleetAck?.laggards, []);
});

pgTest(
  'a crashed instance (its row left behind) holds the acknowledgement until its lease expires by the database clock, and no longer',
  async (t) => {
    const schema = freshSchema();
    const a = await openRegistry(t, { schema });
    const created = await a.create(makePolicyRecord({ id: 'ghost' }));
    await pgServer!.query(
      dbName(),
      `INSERT INTO ${schema}.instances (id, host, pid, applied_sequence, lease_expires_at) VALUES ('dead', 'gone', 1, 0, clock_timestamp() + interval '1 second')`,
    );
    await a.update({ ...created, state: 'revoked' }, created.revision);
    await a.awaitFleet();
    const expired = await pgServer!.query<{ expired: boolean }>(
      dbName(),
      `SELECT lease_expires_at <= clock_timestamp() AS expired FROM ${schema}.instances WHERE id = 'dead'`,
    );
    t.true(expired.rows[0]?.expired, 'acknowledged only once the lease had expired');
    t.deepEqual(a.lastFleetAck?.laggards, []);
    t.deepEqual(a.lastFleetAck?.expired, ['dead (gone pid 1)']);

    // A live lease that never confirms: the caller's deadline ends the wait, honestly (never a success).
    await pgServer!.query(
      dbName(),
      `UPDATE ${schema}.instances SET lease_expires_at = clock_timestamp() + interval '1 hour' WHERE id = 'dead'`,
    );
    const err = await t.throwsAsync(a.awaitFleet(AbortSignal.timeout(300)), { instanceOf: FleetUnconfirmedError });
    t.is(err?.code, 'deadline_exceeded');
    t.regex(err!.message, /dead \(gone pid 1\) has not applied it/);
    t.is(a.get('contoso', 'ghost')?.state, 'revoked', 'the change itself stays durable and in force');

    // A closed instance leaves the fleet: no wait for it.
    await pgServer!.query(dbName(), `DELETE FROM ${schema}.instances WHERE id = 'dead'`);
    const b = await openRegistry(t, { schema });
    await b.close();
    const second = await a.create(makePolicyRecord({ id: 'after-close' }));
    await a.update({ ...second, state: 'revoked' }, second.revision);
    await a.awaitFleet(AbortSignal.timeout(5_000));
    t.deepEqual(a.lastFleetAck?.laggards, []);
    t.deepEqual(a.lastFleetAck?.expired, []);
  },
);

pgTest(
  'an instance that cannot renew fences itself by its own clock before its lease runs out; renewed, it serves again',
  async (t) => {
    const schema = freshSchema();
    const target = new URL(dbUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    t.teardown(() => proxy.close());
    let skew = 0;
    const clock = () => performance.now() + skew;
    // A long grace period: only the lease can fence it here.
    const b = await openRegistry(t, {
      schema,
      connectionString: proxy.rewrite(dbUrl),
      feedGraceMs: 60_000,
      fleetLeaseMs: 60_000,
      fleetRenewMs: 100,
      fleetFenceMarginMs: 10_000,
      clock,
    });
    t.is(b.feed.fenced(), undefined);
    proxy.blackhole();
    // Its clock passes the lease minus the margin since the last renewal was sent: fenced at once, synchronously
    // (no timer needed, so a late timer or a blocked event loop cannot stretch the lease).
    skew = 50_000;
    t.is(b.feed.fenced(), 'lease not renewed in time');
    proxy.restore();
    // The black-holed connection is replaced only after the grace period; a fresh one renews at once.
    await pgServer!.query(
      dbName(),
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [b.feed.applicationName],
    );
    await eventually(() => b.feed.fenced() === undefined, 10_000);
    const lease = await pgServer!.query<{ live: boolean }>(
      dbName(),
      `SELECT lease_expires_at > clock_timestamp() AS live FROM ${schema}.instances WHERE id = $1`,
      [b.instanceId],
    );
    t.true(lease.rows[0]?.live);
  },
);

pgTest(
  'a lease the database saw expire is never renewed: the instance is fenced, re-joins, catches up, then serves',
  async (t) => {
    const schema = freshSchema();
    const a = await openRegistry(t, { schema });
    const b = await openRegistry(t, { schema });
    const order: string[] = [];
    b.feed.onDeafChange((d) => order.push(d ? 'fenced' : 'serving'));
    // What a writer sees of an instance that stalled past its lease (a long GC pause, a frozen VM).
    await pgServer!.query(
      dbName(),
      `UPDATE ${schema}.instances SET lease_expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`,
      [b.instanceId],
    );
    const created = await a.create(makePolicyRecord({ id: 'stalled' }));
    await eventually(() => order.length === 2, 5_000);
    t.deepEqual(order, ['fenced', 'serving']);
    t.is(b.feed.fenced(), undefined);
    await eventually(() => b.get('contoso', 'stalled') !== undefined);
    await a.update({ ...created, state: 'revoked' }, created.revision);
    await a.awaitFleet(AbortSignal.timeout(5_000));
    t.is(b.get('contoso', 'stalled')?.state, 'revoked', 'a live lease again: the writer waited for it');
  },
);

pgTest(
  'the feed connection killed on the server (pg_terminate_backend): it reconnects and replays what it missed',
  async (t) => {
    const schema = freshSchema();
    const a = await openRegistry(t, { schema, fleetAckWait: false });
    const b = await openRegistry(t, { schema, feedGraceMs: 5_000 });
    const deafness: boolean[] = [];
    b.feed.onDeafChange((d) => deafness.push(d));
    const created = await a.create(makePolicyRecord({ id: 'killed' }));
    await eventually(() => b.get('contoso', 'killed') !== undefined);
    const killed = await pgServer!.query<{ ok: boolean }>(
      dbName(),
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
      [b.feed.applicationName],
    );
    t.is(killed.rowCount, 1);
    // Written while b has no feed connection: no notification reaches b; the replay on reconnect does.
    await a.update({ ...created, state: 'revoked' }, created.revision);
    await eventually(() => b.get('contoso', 'killed')?.state === 'revoked', 5_000);
    await eventually(() => b.feed.state().state === 'connected', 5_000);
    t.deepEqual(deafness, [], 'a short loss within the grace period is not deafness');
  },
);

pgTest(
  'deaf: cut off past the grace period the feed says so; back only after reconnect AND catch-up, in that order',
  async (t) => {
    const schema = freshSchema();
    const target = new URL(dbUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    t.teardown(() => proxy.close());
    // A grace of 1.5 s: short enough for the test, long enough that a loaded machine's scheduling delays alone
    // (a heartbeat late by a second) do not make b deaf before the cut, which would put 'deaf' before the mark.
    const a = await openRegistry(t, { schema, feedGraceMs: 1_500, feedPollMs: 100 });
    const b = await openRegistry(t, {
      schema,
      connectionString: proxy.rewrite(dbUrl),
      feedGraceMs: 1_500,
      feedPollMs: 100,
    });
    const order: string[] = [];
    b.feed.onDeafChange((d) => order.push(d ? 'deaf' : 'hearing'));
    b.onChange((p) => order.push(`${p.id}:${p.state}`));
    const created = await a.create(makePolicyRecord({ id: 'cut' }));
    await eventually(() => b.get('contoso', 'cut') !== undefined);
    await eventually(() => b.feed.state().state === 'connected', 15_000);
    order.length = 0;

    proxy.cut();
    // The listener is told in the same turn the state changes: wait on what the listener saw.
    await eventually(() => order.includes('deaf'), 15_000);
    t.is(b.feed.state().state, 'deaf');
    t.deepEqual(order, ['deaf']);
    // Revoked while b cannot hear: a waits for b until b's lease expires; b fenced itself before that.
    await a.update({ ...created, state: 'revoked' }, created.revision);
    await a.awaitFleet(AbortSignal.timeout(10_000));
    t.deepEqual(
      a.lastFleetAck?.expired.map((x) => x.split(' ')[0]),
      [b.instanceId],
    );
    t.truthy(b.feed.fenced(), 'b refuses');
    t.is(b.get('contoso', 'cut')?.state, 'active', 'b cannot know yet');
    proxy.restore();
    await eventually(() => order.includes('hearing'), 15_000);
    t.deepEqual(
      order,
      ['deaf', 'cut:revoked', 'hearing'],
      'the missed revocation is applied before the cache comes back',
    );
    t.is(b.feed.state().lastSequence, a.feed.state().lastSequence);
  },
);

pgTest('a black-holed connection (no FIN, no RST) is noticed by the heartbeat and also goes deaf', async (t) => {
  const schema = freshSchema();
  const target = new URL(dbUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port));
  t.teardown(() => proxy.close());
  const b = await openRegistry(t, {
    schema,
    connectionString: proxy.rewrite(dbUrl),
    feedGraceMs: 600,
    feedPollMs: 100,
  });
  proxy.blackhole();
  const started = Date.now();
  await eventually(() => b.feed.state().state === 'deaf', 5_000);
  t.true(Date.now() - started < 2_000, `deaf after ${Date.now() - started} ms`);
  proxy.restore();
  await eventually(() => b.feed.state().state === 'connected', 10_000);
  t.pass();
});

pgTest('concurrent read-modify-write from two instances: no lost update', async (t) => {
  const schema = freshSchema();
  const a = await openRegistry(t, { schema });
  const b = await openRegistry(t, { schema });
  await a.create(makePolicyRecord({ id: 'counter', name: '0' }));
  await eventually(() => b.get('contoso', 'counter') !== undefined);
  const increments = 15;
  let conflicts = 0;
  const worker = async (r: PostgresRegistry) => {
    for (let i = 0; i < increments; i++) {
      for (;;) {
        const current = r.get('contoso', 'counter')!;
        try {
          await r.update({ ...current, name: String(Number(current.name) + 1) }, current.revision);
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'failed_precondition') throw err;
          conflicts++;
          await eventually(() => r.get('contoso', 'counter')!.revision > current.revision);
        }
      }
    }
  };
  await Promise.all([worker(a), worker(b)]);
  await eventually(
    () =>
      a.get('contoso', 'counter')?.revision === 2 * increments + 1 &&
      b.get('contoso', 'counter')?.revision === 2 * increments + 1,
  );
  t.is(a.get('contoso', 'counter')?.name, String(2 * increments));
  t.log(`${conflicts} revision conflicts retried`);
});

pgTest('the description never shows the password; a bad schema name is refused', async (t) => {
  const r = new PostgresRegistry({
    connectionString: 'postgres://unwrapd:s3cr3t-pass@db.example:5432/keys?sslmode=require',
  });
  t.is(r.description, 'postgres://unwrapd@db.example:5432/keys schema unwrapd');
  t.false(describeConnection('host=db password=s3cr3t dbname=keys').includes('s3cr3t'));
  t.throws(() => new PostgresRegistry({ connectionString: dbUrl, schema: 'Robert"); DROP' }), {
    code: 'invalid_argument',
  });
});

pgTest('open fails clearly (UNAVAILABLE, no password) when PostgreSQL cannot be reached', async (t) => {
  const r = new PostgresRegistry({
    connectionString: 'postgres://u:pw-never-shown@127.0.0.1:1/x',
    connectTimeoutMs: 300,
  });
  const err = await t.throwsAsync(r.open(), { code: 'unavailable' });
  t.false(err?.message.includes('pw-never-shown'));
});

pgTest(
  'a log that went backwards (failover that lost commits) makes the feed reload everything, then follow the log again',
  async (t) => {
    const schema = freshSchema();
    const a = await openRegistry(t, { schema, fleetAckWait: false });
    const b = await openRegistry(t, { schema });
    const p = await a.create(makePolicyRecord({ id: 'kept' }));
    await a.update({ ...p, name: 'lost rename' }, p.revision);
    await a.create(makePolicyRecord({ id: 'lost' }));
    await eventually(() => b.events.lastSequence() === 3);
    // What a promoted replica without the last two commits looks like.
    await pgServer!.query(dbName(), `DELETE FROM ${schema}.policy_events WHERE sequence > 1`);
    await pgServer!.query(dbName(), `DELETE FROM ${schema}.policies WHERE id = 'lost'`);
    await pgServer!.query(
      dbName(),
      `UPDATE ${schema}.policies SET revision = 1, record = jsonb_set(record, '{revision}', '1') - 'x' || '{"name":"Policy kept"}'::jsonb WHERE id = 'kept'`,
    );
    await pgServer!.query(dbName(), `SELECT setval(pg_get_serial_sequence('${schema}.policy_events', 'sequence'), 1)`);
    await pgServer!.query(
      dbName(),
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [b.feed.applicationName],
    );
    await eventually(() => b.get('contoso', 'lost') === undefined, 5_000);
    t.is(b.get('contoso', 'kept')?.name, 'Policy kept');
    t.is(b.get('contoso', 'kept')?.revision, 1);
    // Sequence 2 is handed out again, and b applies it.
    const c = await openRegistry(t, { schema });
    const kept = c.get('contoso', 'kept')!;
    await c.update({ ...kept, state: 'revoked' }, kept.revision);
    await eventually(() => b.get('contoso', 'kept')?.state === 'revoked', 5_000);
    t.is(b.events.lastSequence(), 2);
  },
);
