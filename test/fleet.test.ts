/**
 * A fleet: four real unwrapd processes on one PostgreSQL registry (each its own Unix socket, one shared
 * keystore file). Instance 3 reaches PostgreSQL through a TCP proxy the test can cut.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PolicyEvent__Output } from '../src/generated/unwrapd/v1/PolicyEvent.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { startFleetInstance, type FleetInstance } from './helpers/fleet-instance.js';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { eventually } from './registry-contract.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const TENANT = 'fleet';
const GRACE_MS = 1_000;
const FAILED_PRECONDITION = 9;

let pgServer: TestPostgres | undefined;
let proxy: TcpProxy | undefined;
let dir = '';
let keystorePath = '';
const fleet: FleetInstance[] = [];

test.before(async () => {
  pgServer = await startTestPostgres();
  const url = await pgServer.createDatabase('fleet');
  dir = await mkdtemp(join(tmpdir(), 'uwd-fleet-'));
  keystorePath = join(dir, 'keystore.json');
  const keystore = await openLocalKeystore(keystorePath);
  await Promise.all(['fleet-a', 'fleet-b'].map((k) => keystore.createKey(k)));
  const target = new URL(url);
  proxy = await startTcpProxy(target.hostname, Number(target.port));
  const env = {
    UNWRAPD_FEED_GRACE_MS: String(GRACE_MS),
    UNWRAPD_FEED_POLL_MS: '100',
    UNWRAPD_FEED_RECONNECT_MIN_MS: '50',
    UNWRAPD_FEED_RECONNECT_MAX_MS: '200',
  };
  const started = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      startFleetInstance({ name: `instance ${i}`, dir: join(dir, `i${i}`), keystorePath, pgUrl: i === 3 ? proxy!.rewrite(url) : url, env }),
    ),
  );
  fleet.push(...started);
});

test.after.always(async () => {
  await Promise.allSettled(fleet.map((f) => f.stop()));
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
  for (const f of fleet) await eventuallyAsync(() => f.client.getPolicy(TENANT, id).then(() => true, () => false));
}

async function eventuallyAsync(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const feedOf = async (f: FleetInstance) => {
  const s = await f.client.getStatus();
  const feed = s.feeds.find((x) => x.source === 'postgres-feed');
  return { state: feed?.state, lastSequence: Number(feed?.lastSequence ?? 0), bypassed: s.cacheBypassed, unwraps: Number(s.providerUnwraps) };
};

const codeOf = (err: unknown) => (err as { code?: number }).code;

/** grpc.health.v1 Check of one service name on an instance. */
async function healthOf(f: FleetInstance, service: string): Promise<string> {
  const { protoPath } = createRequire(import.meta.url)('grpc-health-check') as { protoPath: string };
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  type Check = (req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void;
  const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { Check: Check } } } } }).grpc.health.v1.Health;
  const client = new Health(f.address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));
  } finally {
    client.close();
  }
}

test.serial('a revoke through any instance: no decrypt that starts after its acknowledgement succeeds anywhere, under load', async (t) => {
  const block = Buffer.alloc(4096, 7);
  for (let round = 0; round < fleet.length; round++) {
    const id = `load-${round}`;
    const via = fleet[round]!;
    await createPolicy(via, id);
    const { envelope } = await fleet[(round + 1) % fleet.length]!.client.encrypt({ tenant: TENANT, policyId: id, plaintext: block });
    // Warm every cache.
    for (const f of fleet) await f.client.decrypt({ tenant: TENANT, envelope });

    const calls: Array<{ instance: number; start: number; ok: boolean; code?: number }> = [];
    let running = true;
    const loop = async (instance: number) => {
      const f = fleet[instance]!;
      while (running) {
        const start = performance.now();
        try {
          await f.client.decrypt({ tenant: TENANT, envelope });
          calls.push({ instance, start, ok: true });
        } catch (err) {
          calls.push({ instance, start, ok: false, code: codeOf(err) });
        }
      }
    };
    const loops = fleet.flatMap((_, i) => [loop(i), loop(i), loop(i)]);
    await new Promise((r) => setTimeout(r, 150));
    const revokeStart = performance.now();
    await via.client.revoke({ tenant: TENANT, id, reason: 'test' });
    const ackAt = performance.now();
    await new Promise((r) => setTimeout(r, 150));
    running = false;
    await Promise.all(loops);

    const after = calls.filter((c) => c.start > ackAt);
    const violations = after.filter((c) => c.ok);
    t.deepEqual(violations, [], `round ${round}: decrypts that began after the revoke was acknowledged and succeeded`);
    for (let i = 0; i < fleet.length; i++) {
      const mine = after.filter((c) => c.instance === i);
      t.true(mine.length > 0 && mine.every((c) => c.code === FAILED_PRECONDITION), `round ${round}: instance ${i} refuses with FAILED_PRECONDITION`);
    }
    t.true(calls.some((c) => c.ok && c.start < revokeStart), 'the load was being served before the revoke');
    t.log(`round ${round} via instance ${round}: revoke took ${(ackAt - revokeStart).toFixed(1)} ms; ${calls.length} decrypts, ${after.length} after the ack, all refused`);
  }
});

test.serial('WatchEvents replays the shared event log from a sequence on any instance, then goes live', async (t) => {
  const collected: PolicyEvent__Output[] = [];
  const stream = fleet[2]!.client.admin.WatchEvents({ tenant: TENANT, fromSequence: '1' });
  const done = new Promise<void>((resolve) => {
    stream.on('data', (e: PolicyEvent__Output) => {
      collected.push(e);
      if (collected.some((x) => x.policyId === 'watch-live' && x.type === 'revoked')) resolve();
    });
    stream.on('error', () => resolve());
  });
  await eventually(() => collected.filter((e) => e.policyId === 'load-3').length === 2);
  await createPolicy(fleet[1]!, 'watch-live');
  await fleet[0]!.client.revoke({ tenant: TENANT, id: 'watch-live', reason: 'test' });
  await done;
  stream.cancel();
  const sequences = collected.map((e) => Number(e.sequence));
  t.deepEqual(sequences, [...sequences].sort((a, b) => a - b), 'in order');
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

test.serial('feed loss: past the grace period the instance serves only fresh unwraps; a revoke made meanwhile is applied on reconnect', async (t) => {
  const victim = fleet[3]!;
  await createPolicy(fleet[0]!, 'cut');
  const { envelope } = await victim.client.encrypt({ tenant: TENANT, policyId: 'cut', plaintext: Buffer.from('cut off') });
  await victim.client.decrypt({ tenant: TENANT, envelope });
  const warm = await feedOf(victim);
  await victim.client.decrypt({ tenant: TENANT, envelope });
  t.is((await feedOf(victim)).unwraps, warm.unwraps, 'connected: served from cache');
  t.is(warm.state, 'connected');

  proxy!.cut();
  const cutAt = Date.now();
  await eventuallyAsync(async () => (await feedOf(victim)).state === 'deaf', 10_000);
  const deaf = await feedOf(victim);
  t.true(deaf.bypassed, 'deaf: cache bypassed');
  t.is(await healthOf(victim, 'unwrapd.v1.RevocationFeed'), 'NOT_SERVING', 'health reports the deaf feed');
  t.is(await healthOf(victim, ''), 'SERVING', 'liveness is not failed by deafness');
  t.is(await healthOf(victim, 'unwrapd.v1.Crypto'), 'SERVING');
  t.true(Date.now() - cutAt >= GRACE_MS * 0.9, 'not before the grace period');
  for (let i = 0; i < 3; i++) await victim.client.decrypt({ tenant: TENANT, envelope });
  t.true((await feedOf(victim)).unwraps - deaf.unwraps >= 3, 'one provider unwrap per request while deaf');
  t.is((await victim.client.getStatus()).cacheEntries, 0, 'no key kept');

  // Revoked through another instance while the victim cannot hear.
  await fleet[0]!.client.revoke({ tenant: TENANT, id: 'cut', reason: 'while cut off' });
  const staleServe = await victim.client.decrypt({ tenant: TENANT, envelope }).then(() => 'served (fresh unwrap, stale policy state)', (e) => `refused ${codeOf(e)}`);
  t.log(`victim while deaf, after the revoke elsewhere: ${staleServe}`);

  proxy!.restore();
  await eventuallyAsync(async () => (await feedOf(victim)).state === 'connected', 10_000);
  const back = await feedOf(victim);
  t.false(back.bypassed, 'cache back on');
  t.is(await healthOf(victim, 'unwrapd.v1.RevocationFeed'), 'SERVING');
  t.is(back.lastSequence, (await feedOf(fleet[0]!)).lastSequence, 'caught up with the log');
  const err = await t.throwsAsync(victim.client.decrypt({ tenant: TENANT, envelope }));
  t.is(codeOf(err), FAILED_PRECONDITION, 'the revoke made while it was cut off was applied before it serves from cache again');
});

test.serial('concurrent RollKey of one policy through two instances: no lost update', async (t) => {
  await createPolicy(fleet[0]!, 'roll');
  const { envelope } = await fleet[0]!.client.encrypt({ tenant: TENANT, policyId: 'roll', plaintext: Buffer.from('before the rolls') });
  const keystore = await openLocalKeystore(keystorePath);
  await keystore.rotateKey('fleet-a');
  await keystore.rotateKey('fleet-b');
  const wanted = { 'customer-a': 'local:fleet-a/2', 'customer-b': 'local:fleet-b/2' } as const;
  const roll = (f: FleetInstance, role: keyof typeof wanted) => f.client.rollKey({ tenant: TENANT, id: 'roll', role, newKeyUri: wanted[role] });
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
  const expected = await fleet[0]!.client.getPolicy(TENANT, 'roll');
  for (const f of fleet) {
    await eventuallyAsync(async () => (await f.client.getPolicy(TENANT, 'roll')).revision === expected.revision);
    const p = await f.client.getPolicy(TENANT, 'roll');
    const uris = Object.fromEntries(p.customerKeys.map((k) => [k.role, k.uri]));
    t.deepEqual(uris, wanted, `${f.name} sees both rolls`);
    const { plaintext } = await f.client.decrypt({ tenant: TENANT, envelope });
    t.is(plaintext.toString(), 'before the rolls');
  }
});

test.serial('PostgreSQL stopped: every instance goes deaf (cache off, still serving fresh unwraps), and recovers when it is back', async (t) => {
  if (!pgServer!.throwaway) return t.pass('UNWRAPD_TEST_PG_URL is an external server: not stopped');
  await createPolicy(fleet[0]!, 'outage');
  const { envelope } = await fleet[0]!.client.encrypt({ tenant: TENANT, policyId: 'outage', plaintext: Buffer.from('outage') });
  await pgServer!.stopServer();
  try {
    for (const f of fleet) await eventuallyAsync(async () => (await feedOf(f)).state === 'deaf', 10_000);
    for (const f of fleet) {
      const before = (await feedOf(f)).unwraps;
      const { plaintext } = await f.client.decrypt({ tenant: TENANT, envelope });
      t.is(plaintext.toString(), 'outage', `${f.name} still serves while the registry is down`);
      t.is((await feedOf(f)).unwraps, before + 1, `${f.name} unwrapped afresh`);
      t.true((await feedOf(f)).bypassed);
    }
    // Writes fail while it is down (UNAVAILABLE), reads go on from memory.
    const err = await t.throwsAsync(fleet[1]!.client.revoke({ tenant: TENANT, id: 'outage', reason: 'during outage' }));
    t.is(codeOf(err), grpc.status.UNAVAILABLE);
  } finally {
    await pgServer!.startServer();
  }
  for (const f of fleet) await eventuallyAsync(async () => (await feedOf(f)).state === 'connected', 15_000);
  for (const f of fleet) t.false((await feedOf(f)).bypassed);
  await fleet[1]!.client.revoke({ tenant: TENANT, id: 'outage', reason: 'after the outage' });
  for (const f of fleet) t.is(codeOf(await f.client.decrypt({ tenant: TENANT, envelope }).catch((e: unknown) => e)), FAILED_PRECONDITION);
});
