/**
 * A fleet: four real unwrapd processes on one PostgreSQL registry (each its own Unix socket, one shared
 * keystore file). Instance 3 reaches PostgreSQL through a TCP proxy the test can cut.
 *
 * The revocation test must hold with the machine saturated (a busy loop per core), so every wait here is on
 * an event (a state, a status) and the leases leave seconds of slack over the renewal interval.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PolicyEvent__Output } from '../src/generated/unwrapd/v1/PolicyEvent.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { startFleetInstance, type FleetInstance } from './helpers/fleet-instance.js';
import { postgresDependency, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { startTcpProxyProcess, type TcpProxyProcess } from './helpers/tcp-proxy-process.js';

const pgAvailable = requireSystemDependency(test, import.meta.url, postgresDependency());
const pgSerial = pgAvailable ? test.serial : test.serial.skip;

const TENANT = 'fleet';
const GRACE_MS = 2_000;
const LEASE_MS = 4_000;
const FAILED_PRECONDITION = 9;
const UNAVAILABLE = 14;

let pgServer: TestPostgres | undefined;
let proxy: TcpProxyProcess | undefined;
let dir = '';
let keystorePath = '';
const fleet: FleetInstance[] = [];
let fleetUrl = '';
let fleetEnv: Record<string, string> = {};

test.before(async () => {
  if (!pgAvailable) return;
  pgServer = await startTestPostgres();
  const url = await pgServer.createDatabase('fleet');
  dir = await mkdtemp(join(tmpdir(), 'uwd-fleet-'));
  keystorePath = join(dir, 'keystore.json');
  const keystore = await openLocalKeystore(keystorePath);
  await Promise.all(['fleet-a', 'fleet-b'].map((k) => keystore.createKey(k)));
  const target = new URL(url);
  proxy = await startTcpProxyProcess(target.hostname, Number(target.port));
  fleetUrl = url;
  const env = {
    UNWRAPD_FEED_GRACE_MS: String(GRACE_MS),
    UNWRAPD_FEED_POLL_MS: '100',
    UNWRAPD_FEED_RECONNECT_MIN_MS: '50',
    UNWRAPD_FEED_RECONNECT_MAX_MS: '200',
    UNWRAPD_FLEET_LEASE_MS: String(LEASE_MS),
    UNWRAPD_FLEET_RENEW_MS: '200',
    UNWRAPD_FLEET_FENCE_MARGIN_MS: '1000',
  };
  fleetEnv = env;
  const started = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      startFleetInstance({
        name: `instance ${i}`,
        dir: join(dir, `i${i}`),
        keystorePath,
        pgUrl: i === 3 ? proxy!.rewrite(url) : url,
        env,
      }),
    ),
  );
  fleet.push(...started);
});

test.after.always(async () => {
  await Promise.allSettled(fleet.map((f) => f.stop()));
  // For a failing run: UNWRAPD_TEST_KEEP_LOGS=<dir> keeps each instance's log (JSON lines, warn and above).
  const keep = process.env.UNWRAPD_TEST_KEEP_LOGS;
  if (keep) await Promise.all(fleet.map((f, i) => writeFile(join(keep, `fleet-instance-${i}.log`), f.logs())));
  await proxy?.close();
  await pgServer?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function createPolicy(via: FleetInstance, id: string): Promise<void> {
  await via.client.createPolicy({
    tenant: TENANT,
    id,
    name: id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: 'local:fleet-a',
    customerKeyB: 'local:fleet-b',
    availabilityKey: '',
  });
  // Creation does not wait for the fleet (only restricting changes do): wait until every instance has it.
  for (const f of fleet)
    await eventuallyAsync(() =>
      f.client.getPolicy(TENANT, id).then(
        () => true,
        () => false,
      ),
    );
}

async function eventuallyAsync(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const feedOf = async (f: FleetInstance) => {
  const s = await f.client.getStatus();
  const feed = s.feeds.find((x) => x.source === 'postgres-feed');
  return {
    state: feed?.state,
    lastSequence: Number(feed?.lastSequence ?? 0),
    bypassed: s.cacheBypassed,
    unwraps: Number(s.providerUnwraps),
  };
};

const codeOf = (err: unknown) => (err as { code?: number }).code;
const detailsOf = (err: unknown) => String((err as { details?: string }).details ?? '');

/** grpc.health.v1 Check of one service name on an instance. */
async function healthOf(f: FleetInstance, service: string): Promise<string> {
  const { protoPath } = createRequire(import.meta.url)('grpc-health-check') as { protoPath: string };
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  type Check = (
    req: { service: string },
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ) => void;
  const Health = (
    grpc.loadPackageDefinition(def) as unknown as {
      grpc: {
        health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { Check: Check } } };
      };
    }
  ).grpc.health.v1.Health;
  const client = new Health(f.address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) =>
      client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))),
    );
  } finally {
    client.close();
  }
}

pgSerial(
  'a revoke through any instance: no decrypt that starts after its acknowledgement succeeds anywhere, under load',
  async (t) => {
    const block = Buffer.alloc(4096, 7);
    for (let round = 0; round < fleet.length; round++) {
      const id = `load-${round}`;
      const via = fleet[round]!;
      await createPolicy(via, id);
      const { envelope } = await fleet[(round + 1) % fleet.length]!.client.encrypt({
        tenant: TENANT,
        policyId: id,
        plaintext: block,
      });
      // Warm every cache.
      for (const f of fleet) await f.client.decrypt({ tenant: TENANT, envelope });

      const calls: Array<{ instance: number; start: number; ok: boolean; code?: number; details?: string }> = [];
      let running = true;
      const loop = async (instance: number) => {
        const f = fleet[instance]!;
        while (running) {
          const start = performance.now();
          try {
            await f.client.decrypt({ tenant: TENANT, envelope });
            calls.push({ instance, start, ok: true });
          } catch (err) {
            calls.push({ instance, start, ok: false, code: codeOf(err), details: detailsOf(err) });
          }
        }
      };
      const loops = fleet.flatMap((_, i) => [loop(i), loop(i), loop(i)]);
      // Load on every instance before the revoke: each has served a few decrypts.
      await eventuallyAsync(async () =>
        fleet.every((_, i) => calls.filter((c) => c.instance === i && c.ok).length >= 3),
      );
      const revokeStart = performance.now();
      await via.client.revoke({ tenant: TENANT, id, reason: 'test' });
      const ackAt = performance.now();
      // Acknowledged means applied: every instance refuses at once, as revoked (it applied the revoke) or as
      // fenced (its lease expired on a saturated machine; it refuses everything until it has caught up).
      const states = await Promise.all(
        fleet.map(async (f) => {
          const err = await f.client.decrypt({ tenant: TENANT, envelope }).then(
            () => undefined,
            (e: unknown) => e,
          );
          if (codeOf(err) === FAILED_PRECONDITION) return 'applied';
          if (codeOf(err) === UNAVAILABLE && /revocation feed lost/.test(detailsOf(err))) return 'fenced';
          return err ? `refused otherwise: ${codeOf(err)} ${detailsOf(err)}` : 'served';
        }),
      );
      t.true(
        states.every((x) => x === 'applied' || x === 'fenced'),
        `round ${round}: every instance refuses at once: ${states.join('; ')}`,
      );
      if (states.includes('fenced')) t.log(`round ${round}: at the acknowledgement: ${states.join(', ')}`);
      // Load that keeps coming after the acknowledgement: a few decrypts begun after it on every instance.
      await eventuallyAsync(async () =>
        fleet.every((_, i) => calls.filter((c) => c.instance === i && c.start > ackAt).length >= 3),
      );
      running = false;
      await Promise.all(loops);

      const after = calls.filter((c) => c.start > ackAt);
      const violations = after.filter((c) => c.ok);
      t.deepEqual(
        violations,
        [],
        `round ${round}: decrypts that began after the revoke was acknowledged and succeeded`,
      );
      for (let i = 0; i < fleet.length; i++) {
        const mine = after.filter((c) => c.instance === i);
        // Refused as revoked; an instance fenced by a late renewal (a saturated machine) refuses as UNAVAILABLE.
        const asRevoked = mine.filter((c) => c.code === FAILED_PRECONDITION).length;
        const fenced = mine.filter(
          (c) => c.code === UNAVAILABLE && /revocation feed lost/.test(c.details ?? ''),
        ).length;
        t.true(
          mine.length > 0 && asRevoked + fenced === mine.length,
          `round ${round}: instance ${i} refuses (${JSON.stringify(mine.filter((c) => c.code !== FAILED_PRECONDITION).slice(0, 3))})`,
        );
        if (fenced > 0) t.log(`round ${round}: instance ${i} was fenced for ${fenced} of its refusals`);
      }
      t.true(
        calls.some((c) => c.ok && c.start < revokeStart),
        'the load was being served before the revoke',
      );
      t.log(
        `round ${round} via instance ${round}: revoke took ${(ackAt - revokeStart).toFixed(1)} ms; ${calls.length} decrypts, ${after.length} after the ack, all refused`,
      );
    }
  },
);

pgSerial('WatchEvents replays the shared event log from a sequence on any instance, then goes live', async (t) => {
  const collected: PolicyEvent__Output[] = [];
  const stream = fleet[2]!.client.admin.WatchEvents({ tenant: TENANT, fromSequence: '1' });
  t.teardown(() => stream.cancel());
  // Each wait is on the stream's own events (checked as each arrives); a stream error fails the wait with it.
  const waiters: Array<{ check: () => boolean; resolve: () => void; reject: (err: unknown) => void }> = [];
  const until = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (check()) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`WatchEvents: no ${what} within 60 s; got ${collected.length} events`)),
        60_000,
      );
      waiters.push({
        check,
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
    });
  stream.on('data', (e: PolicyEvent__Output) => {
    collected.push(e);
    for (const w of [...waiters]) {
      if (!w.check()) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  stream.on('error', (err: Error) => waiters.splice(0).forEach((w) => w.reject(err)));
  await until(() => collected.filter((e) => e.policyId === 'load-3').length === 2, 'replay of the earlier events');
  await createPolicy(fleet[1]!, 'watch-live');
  await fleet[0]!.client.revoke({ tenant: TENANT, id: 'watch-live', reason: 'test' });
  await until(() => collected.some((x) => x.policyId === 'watch-live' && x.type === 'revoked'), 'live revoke event');
  const sequences = collected.map((e) => Number(e.sequence));
  t.deepEqual(
    sequences,
    [...sequences].sort((a, b) => a - b),
    'in order',
  );
  t.is(new Set(sequences).size, sequences.length, 'no repeats');
  for (let r = 0; r < 4; r++) {
    t.deepEqual(
      collected.filter((e) => e.policyId === `load-${r}`).map((e) => e.type),
      ['created', 'revoked'],
    );
  }
  t.deepEqual(
    collected.filter((e) => e.policyId === 'watch-live').map((e) => e.type),
    ['created', 'revoked'],
  );
});

pgSerial(
  'feed loss: the cut-off instance fences itself before its lease expires, so the revoke is acknowledged without it; it refuses until back and caught up',
  async (t) => {
    const victim = fleet[3]!;
    await createPolicy(fleet[0]!, 'cut');
    await createPolicy(fleet[0]!, 'cut-other');
    const { envelope } = await victim.client.encrypt({
      tenant: TENANT,
      policyId: 'cut',
      plaintext: Buffer.from('cut off'),
    });
    const other = (
      await victim.client.encrypt({ tenant: TENANT, policyId: 'cut-other', plaintext: Buffer.from('still mine') })
    ).envelope;
    await victim.client.decrypt({ tenant: TENANT, envelope });
    const warm = await feedOf(victim);
    await victim.client.decrypt({ tenant: TENANT, envelope });
    t.is((await feedOf(victim)).unwraps, warm.unwraps, 'connected: served from cache');
    t.is(warm.state, 'connected');

    await proxy!.cut();
    // Whatever happens below, the victim gets its connection back for the tests that follow.
    t.teardown(() => proxy!.restore());
    const cutAt = Date.now();
    await eventuallyAsync(async () => (await feedOf(victim)).state === 'deaf', 15_000);
    const deaf = await feedOf(victim);
    t.true(Date.now() - cutAt >= GRACE_MS * 0.9, 'not before the grace period');
    t.is(await healthOf(victim, 'unwrapd.v1.RevocationFeed'), 'NOT_SERVING', 'health reports the deaf feed');
    t.is(await healthOf(victim, ''), 'SERVING', 'liveness is not failed by deafness');
    for (const env of [envelope, other]) {
      const err = await t.throwsAsync(victim.client.decrypt({ tenant: TENANT, envelope: env }));
      t.is(codeOf(err), UNAVAILABLE);
      t.regex(detailsOf(err), /revocation feed lost/);
    }
    t.is((await feedOf(victim)).unwraps, deaf.unwraps, 'no fresh unwrap while deaf');
    t.is((await victim.client.getStatus()).cacheEntries, 0, 'no key kept');

    // Revoked through another instance while the victim cannot hear: acknowledged once the victim's lease has
    // expired (it fenced itself before that), never before, and never with the victim serving.
    const revokeStart = Date.now();
    await fleet[0]!.client.revoke({ tenant: TENANT, id: 'cut', reason: 'while cut off' });
    t.log(
      `revoke acknowledged ${Date.now() - revokeStart} ms after it was sent, ${Date.now() - cutAt} ms after the cut (lease ${LEASE_MS} ms)`,
    );
    // The rule, as the database sees it: every instance that has not applied the revoke has an expired lease.
    const behind = await pgServer!.query<{ id: string; expired: boolean }>(
      new URL(fleetUrl).pathname.slice(1),
      `SELECT id, lease_expires_at <= clock_timestamp() AS expired FROM unwrapd.instances
     WHERE applied_sequence < (SELECT max(sequence) FROM unwrapd.policy_events WHERE policy_id = 'cut')`,
    );
    t.is(behind.rows.length, 1, 'only the victim is behind');
    t.true(behind.rows[0]?.expired, "acknowledged only once the victim's lease had expired (database clock)");
    const stale = await t.throwsAsync(victim.client.decrypt({ tenant: TENANT, envelope }));
    t.is(codeOf(stale), UNAVAILABLE, 'the victim refuses after the acknowledgement');

    await proxy!.restore();
    await eventuallyAsync(async () => (await feedOf(victim)).state === 'connected', 15_000);
    t.is(await healthOf(victim, 'unwrapd.v1.RevocationFeed'), 'SERVING');
    t.false((await feedOf(victim)).bypassed, 'cache back on');
    t.is((await feedOf(victim)).lastSequence, (await feedOf(fleet[0]!)).lastSequence, 'caught up with the log');
    const err = await t.throwsAsync(victim.client.decrypt({ tenant: TENANT, envelope }));
    t.is(codeOf(err), FAILED_PRECONDITION, 'the revoke made while it was cut off was applied before it serves again');
    const { plaintext } = await victim.client.decrypt({ tenant: TENANT, envelope: other });
    t.is(plaintext.toString(), 'still mine', 'back and caught up: it serves again');
  },
);

pgSerial('concurrent RollKey of one policy through two instances: no lost update', async (t) => {
  await createPolicy(fleet[0]!, 'roll');
  const { envelope } = await fleet[0]!.client.encrypt({
    tenant: TENANT,
    policyId: 'roll',
    plaintext: Buffer.from('before the rolls'),
  });
  const keystore = await openLocalKeystore(keystorePath);
  await keystore.rotateKey('fleet-a');
  await keystore.rotateKey('fleet-b');
  const wanted = { 'customer-a': 'local:fleet-a/2', 'customer-b': 'local:fleet-b/2' } as const;
  const roll = (f: FleetInstance, role: keyof typeof wanted) =>
    f.client.rollKey({ tenant: TENANT, id: 'roll', role, newKeyUri: wanted[role] });
  const results = await Promise.allSettled([roll(fleet[0]!, 'customer-a'), roll(fleet[1]!, 'customer-b')]);
  const roles = ['customer-a', 'customer-b'] as const;
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected') {
      // The loser is told (a revision conflict), never silently overwritten; it retries on fresh state.
      t.is(codeOf(r.reason), FAILED_PRECONDITION, String((r.reason as { details?: string }).details));
      t.log(`${roles[i]} lost the race: ${(r.reason as { details?: string }).details}`);
      await eventuallyAsync(async () => {
        try {
          await roll(fleet[i]!, roles[i]!);
          return true;
        } catch (err) {
          if (codeOf(err) !== FAILED_PRECONDITION) throw err;
          return false;
        }
      });
    }
  }
  // Every instance comes to see both rolls (rolls do not wait for the fleet: read until they arrive; a
  // revision read from one instance may be older than what another already has).
  const urisOf = async (f: FleetInstance) =>
    Object.fromEntries((await f.client.getPolicy(TENANT, 'roll')).customerKeys.map((k) => [k.role, k.uri]));
  for (const f of fleet) {
    await eventuallyAsync(async () => {
      const uris = await urisOf(f);
      return uris['customer-a'] === wanted['customer-a'] && uris['customer-b'] === wanted['customer-b'];
    });
    t.deepEqual(await urisOf(f), wanted, `${f.name} sees both rolls`);
    const { plaintext } = await f.client.decrypt({ tenant: TENANT, envelope });
    t.is(plaintext.toString(), 'before the rolls');
  }
});

pgSerial(
  'PostgreSQL stopped: every instance goes deaf and refuses (UNAVAILABLE), and recovers when it is back',
  async (t) => {
    if (!pgServer!.throwaway) return t.pass('UNWRAPD_TEST_PG_URL is an external server: not stopped');
    await createPolicy(fleet[0]!, 'outage');
    const { envelope } = await fleet[0]!.client.encrypt({
      tenant: TENANT,
      policyId: 'outage',
      plaintext: Buffer.from('outage'),
    });
    await pgServer!.stopServer();
    try {
      for (const f of fleet) await eventuallyAsync(async () => (await feedOf(f)).state === 'deaf', 15_000);
      for (const f of fleet) {
        const err = await t.throwsAsync(f.client.decrypt({ tenant: TENANT, envelope }));
        t.is(codeOf(err), UNAVAILABLE, `${f.name} refuses while it cannot hear the registry`);
        t.regex(detailsOf(err), /revocation feed lost/);
      }
      // Writes fail while it is down (UNAVAILABLE).
      const err = await t.throwsAsync(
        fleet[1]!.client.revoke({ tenant: TENANT, id: 'outage', reason: 'during outage' }),
      );
      t.is(codeOf(err), grpc.status.UNAVAILABLE);
    } finally {
      await pgServer!.startServer();
    }
    for (const f of fleet) await eventuallyAsync(async () => (await feedOf(f)).state === 'connected', 20_000);
    for (const f of fleet) {
      t.false((await feedOf(f)).bypassed);
      const { plaintext } = await f.client.decrypt({ tenant: TENANT, envelope });
      t.is(plaintext.toString(), 'outage', `${f.name} serves again`);
    }
    await fleet[1]!.client.revoke({ tenant: TENANT, id: 'outage', reason: 'after the outage' });
    for (const f of fleet)
      t.is(codeOf(await f.client.decrypt({ tenant: TENANT, envelope }).catch((e: unknown) => e)), FAILED_PRECONDITION);
  },
);

pgSerial('deafServeUncached (opt-in): a deaf instance serves fresh unwraps only, as before', async (t) => {
  // A fifth instance with the opt-in, behind its own proxy, on the same database.
  const base = new URL(fleetUrl);
  const own = await startTcpProxyProcess(base.hostname, Number(base.port));
  const env = { ...fleetEnv, UNWRAPD_DEAF_SERVE_UNCACHED: 'true' };
  const opted = await startFleetInstance({
    name: 'instance 4 (serve uncached)',
    dir: join(dir, 'i4'),
    keystorePath,
    pgUrl: own.rewrite(fleetUrl),
    env,
  });
  try {
    await createPolicy(fleet[0]!, 'uncached');
    await eventuallyAsync(() =>
      opted.client.getPolicy(TENANT, 'uncached').then(
        () => true,
        () => false,
      ),
    );
    const { envelope } = await opted.client.encrypt({
      tenant: TENANT,
      policyId: 'uncached',
      plaintext: Buffer.from('uncached'),
    });
    await own.cut();
    await eventuallyAsync(async () => (await feedOf(opted)).state === 'deaf', 15_000);
    const before = await feedOf(opted);
    t.true(before.bypassed, 'deaf: cache bypassed');
    for (let i = 0; i < 3; i++)
      t.is((await opted.client.decrypt({ tenant: TENANT, envelope })).plaintext.toString(), 'uncached');
    t.true((await feedOf(opted)).unwraps - before.unwraps >= 3, 'one provider unwrap per request while deaf');
    t.is(await healthOf(opted, 'unwrapd.v1.RevocationFeed'), 'NOT_SERVING');
    await own.restore();
    await eventuallyAsync(async () => (await feedOf(opted)).state === 'connected', 15_000);
    t.false((await feedOf(opted)).bypassed);
  } finally {
    await opted.stop();
    await own.close();
  }
});
