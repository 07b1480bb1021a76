import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { PolicyEvent__Output } from '../src/generated/unwrapd/v1/PolicyEvent.js';
import type { UnwrapdClient } from '../src/client/client.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../src/config/config.js';
import { DEMO_KEYS } from '../src/daemon/demo.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { createPolicy, startTestDaemon as startDaemonWithOwnKeys } from './helpers/test-daemon.js';
import { eventually } from './registry-contract.js';

// One keystore for every daemon of this file: RSA key generation is the slow part of a first start.
let keysDir = '';
test.before(async () => {
  keysDir = await mkdtemp(join(tmpdir(), 'uwd-watch-keys-'));
  const keystore = await openLocalKeystore(join(keysDir, 'keystore.json'));
  await Promise.all(Object.values(DEMO_KEYS).map((k) => keystore.createKey(k)));
});
test.after.always(() => rm(keysDir, { recursive: true, force: true }));
const startTestDaemon = (overrides: Partial<Config> = {}) =>
  startDaemonWithOwnKeys({ keystorePath: join(keysDir, 'keystore.json'), ...overrides });

/** Opens a WatchEvents stream and collects what it yields, and how it ended. */
function watch(client: UnwrapdClient, req: { tenant?: string; fromSequence?: string }) {
  const events: PolicyEvent__Output[] = [];
  let ended: { code: number; details: string } | undefined;
  const stream = client.admin.WatchEvents(req);
  stream.on('data', (e: PolicyEvent__Output) => events.push(e));
  stream.on('error', (err: grpc.ServiceError) => (ended = { code: err.code, details: err.details }));
  stream.on('end', () => (ended ??= { code: grpc.status.OK, details: '' }));
  return { events, ended: () => ended, cancel: () => stream.cancel() };
}

const summary = (events: PolicyEvent__Output[]) =>
  events.map((e) => `${e.sequence}:${e.type}:${e.tenant}/${e.policyId}@${e.revision}`);

test("file registry: WatchEvents streams this process's policy events live, replays from a sequence, filters by tenant", async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  // From sequence 1 (the log is empty): every event reaches the stream whenever the server subscribes it, so
  // the test does not race the subscription. Live delivery after a replay is checked below.
  const live = watch(d.client, { fromSequence: '1' });
  const other = watch(d.client, { tenant: 'other', fromSequence: '1' });
  await createPolicy(d.client, 'w1');
  await d.client.revoke({ tenant: 'demo', id: 'w1', reason: 'test' });
  await createPolicy(d.client, 'o1', 'other');
  await eventually(() => live.events.length === 3);
  t.deepEqual(summary(live.events), ['1:created:demo/w1@1', '2:revoked:demo/w1@2', '3:created:other/o1@1']);
  await eventually(() => other.events.length === 1);
  t.deepEqual(summary(other.events), ['3:created:other/o1@1']);

  const replay = watch(d.client, { fromSequence: '2' });
  await eventually(() => replay.events.length === 2);
  await createPolicy(d.client, 'w2');
  await eventually(() => replay.events.length === 3);
  t.deepEqual(summary(replay.events), ['2:revoked:demo/w1@2', '3:created:other/o1@1', '4:created:demo/w2@1']);
  t.truthy(Date.parse(replay.events[0]!.at));
  for (const w of [live, other, replay]) w.cancel();
});

test('WatchEvents: bad requests are refused, and shutdown ends the stream promptly with UNAVAILABLE naming where to resume', async (t) => {
  const d = await startTestDaemon({ shutdownTimeoutMs: 60_000 });
  const bad = watch(d.client, { tenant: 'not a tenant!' });
  await eventually(() => bad.ended() !== undefined);
  t.is(bad.ended()?.code, grpc.status.INVALID_ARGUMENT);

  const w = watch(d.client, { fromSequence: '1' }); // sees s1 whenever the server subscribes it
  await createPolicy(d.client, 's1');
  await eventually(() => w.events.length === 1);
  const started = Date.now();
  await d.stop();
  t.true(Date.now() - started < 60_000 / 2, 'a watcher does not hold shutdown to its timeout');
  await eventually(() => w.ended() !== undefined);
  t.is(w.ended()?.code, grpc.status.UNAVAILABLE);
  t.regex(w.ended()?.details ?? '', /from_sequence=2/);
});

test('WatchEvents needs the admin role', async (t) => {
  const d = await startTestDaemon({ adminSocketRoles: 'user' });
  t.teardown(() => d.stop());
  const w = watch(d.client, {});
  await eventually(() => w.ended() !== undefined);
  t.is(w.ended()?.code, grpc.status.PERMISSION_DENIED);
});

test('the Event Grid webhook starts with the daemon when configured and shows in GetStatus', async (t) => {
  const d = await startTestDaemon({ eventGridListen: '127.0.0.1:0', eventGridSecret: 'a-long-enough-shared-secret' });
  t.teardown(() => d.stop());
  const status = await d.client.getStatus();
  t.like(
    status.feeds.find((f) => f.source === 'event-grid'),
    { state: 'connected' },
  );
  const url = new URL(d.daemon.fleet.eventGrid!.url);
  url.searchParams.set('code', 'a-long-enough-shared-secret');
  const res = await fetch(url, { method: 'OPTIONS', headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' } });
  t.is(res.status, 200);
});

test('unwrapd events replays and follows WatchEvents on the command line', async (t) => {
  const { execFile } = await import('node:child_process');
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'cli-1');
  await d.client.revoke({ tenant: 'demo', id: 'cli-1', reason: 'test' });
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['bin/unwrapd.js', 'events', '--address', d.daemon.address, '--from', '1', '--count', '2', '--json'],
      { timeout: 30_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { sequence: string; type: string; policyId: string });
  t.deepEqual(
    lines.map((e) => [e.sequence, e.type, e.policyId]),
    [
      ['1', 'created', 'cli-1'],
      ['2', 'revoked', 'cli-1'],
    ],
  );
});
