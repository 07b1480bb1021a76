import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { liveKeyBuffer } from './helpers/key-bytes.js';
import { waitFor } from './helpers/wait-for.js';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ hedgeDelayMs: 60_000 });
});
test.after.always(async () => {
  await d?.stop();
});

test.serial('Revoke evicts and zeroizes every cached key of the policy at once, and refuses afterwards', async (t) => {
  await createPolicy(d.client, 'rv-basic');
  const envelope = (await d.client.encrypt({ tenant: 'demo', policyId: 'rv-basic', plaintext: Buffer.from('x') }))
    .envelope;
  await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rv-basic' });
  await d.client.encrypt({ tenant: 'demo', policyId: 'rv-basic', plaintext: Buffer.from('y') });
  const buffers = d.daemon.cache
    .entries()
    .filter((e) => e.policyId === 'rv-basic')
    .map((e) => liveKeyBuffer(e.kek));
  t.is(buffers.length, 2, 'two versions cached');
  const revoked = await d.client.revoke({ tenant: 'demo', id: 'rv-basic', reason: 'customer request' });
  t.is(revoked.state, 'POLICY_STATE_REVOKED');
  t.is(revoked.stateReason, 'customer request');
  for (const b of buffers) t.true(b.every((x) => x === 0));
  t.is(d.daemon.cache.entries().filter((e) => e.policyId === 'rv-basic').length, 0);
  const enc = await codeOf(d.client.encrypt({ tenant: 'demo', policyId: 'rv-basic', plaintext: Buffer.from('x') }));
  t.is(enc.code, grpc.status.FAILED_PRECONDITION);
  t.is(enc.details, 'policy demo/rv-basic is revoked');
  t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope }))).code, grpc.status.FAILED_PRECONDITION);
  t.is((await d.client.revoke({ tenant: 'demo', id: 'rv-basic' })).state, 'POLICY_STATE_REVOKED', 'idempotent');
});

test.serial('Revoke fails requests that were waiting on an in-flight unwrap of the policy', async (t) => {
  await createPolicy(d.client, 'rv-inflight');
  const envelope = (await d.client.encrypt({ tenant: 'demo', policyId: 'rv-inflight', plaintext: Buffer.from('x') }))
    .envelope;
  await d.client.evict({ tenant: 'demo', id: 'rv-inflight' });
  const release = d.provider.holdCalls('unwrap'); // the window in which the revoke lands, until released
  try {
    const unwrapping = d.provider.callStarted('unwrap');
    const waiting = Array.from({ length: 50 }, () =>
      d.client.decrypt({ tenant: 'demo', envelope }).then(
        () => 'ok',
        (e: grpc.ServiceError) => e.code,
      ),
    );
    await unwrapping; // the load is in flight
    await d.client.revoke({ tenant: 'demo', id: 'rv-inflight' });
    release(); // the unwrap completes only now, after the revoke
    const outcomes = await Promise.all(waiting);
    t.deepEqual([...new Set(outcomes)], [grpc.status.FAILED_PRECONDITION]);
    t.is(
      d.daemon.cache.entries().filter((e) => e.policyId === 'rv-inflight').length,
      0,
      'the late unwrap was destroyed, not cached',
    );
  } finally {
    release();
  }
});

test.serial(
  'revocation under load: no decrypt that began after the revoke was acknowledged succeeds (8 rounds)',
  async (t) => {
    // Eight rounds: the revoke lands after 8 to 15 served decrypts, each offset once.
    const ROUNDS = 8;
    let checked = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const id = `rv-load-${round}`;
      await createPolicy(d.client, id);
      const envelope = (await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.from('payload') }))
        .envelope;
      let ackAt = Number.POSITIVE_INFINITY;
      let served = 0;
      let refusedAfterAck = 0;
      const violations: number[] = [];
      // Signalled by the clients themselves as the counts are reached (not polled): the revoke goes out right
      // after the round's served decrypts, and the load stops once 8 requests after the acknowledgement were
      // refused, instead of running on for a poll interval. A client refused before the acknowledgement (the
      // revocation already in force, its durable write still running) waits for it and then sends again: all
      // eight send right after it, where the assertion looks, instead of a few hundred refusals beside the write.
      let loadServed!: () => void;
      const servedEnough = new Promise<void>((resolve) => (loadServed = resolve));
      let acked!: () => void;
      const acknowledged = new Promise<void>((resolve) => (acked = resolve));
      let gaveUp = false;
      let stopWaiting!: () => void;
      const giveUp = new Promise<void>((resolve) => (stopWaiting = resolve));
      const clients = Array.from({ length: 8 }, async () => {
        while (refusedAfterAck < 8 && !gaveUp) {
          const startedAt = performance.now();
          try {
            await d.client.decrypt({ tenant: 'demo', envelope });
            served++;
            if (served >= 8 + (round % 8)) loadServed();
            if (startedAt > ackAt) violations.push(startedAt - ackAt);
          } catch (err) {
            t.is((err as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
            if (startedAt > ackAt) {
              checked++;
              refusedAfterAck++;
            } else await Promise.race([acknowledged, giveUp]);
          }
        }
      });
      // The revoke lands in the middle of served load, and load keeps coming after its acknowledgement.
      // Each wait bounded as waitFor bounds it (30 s), failing with what did not happen.
      const stop = () => {
        gaveUp = true;
        stopWaiting();
      };
      const bound = setTimeout(stop, 30_000);
      try {
        await Promise.race([servedEnough, Promise.all(clients)]);
        t.true(served >= 8 + (round % 8), `round ${round}: load served before the revoke`);
        await d.client.revoke({ tenant: 'demo', id });
        ackAt = performance.now();
        acked();
        bound.refresh();
        await Promise.all(clients);
      } finally {
        stop();
        clearTimeout(bound);
        await Promise.all(clients);
      }
      t.true(refusedAfterAck >= 8, `round ${round}: requests after the acknowledgement (${refusedAfterAck})`);
      t.deepEqual(violations, [], `round ${round}: decrypts that started after the ack succeeded`);
    }
    t.true(checked >= 8 * ROUNDS, `requests after the ack were exercised (${checked})`);
  },
);

test.serial('Evict drops cached keys without revoking: the next request unwraps afresh and succeeds', async (t) => {
  await createPolicy(d.client, 'ev');
  await d.client.encrypt({ tenant: 'demo', policyId: 'ev', plaintext: Buffer.from('x') });
  d.provider.resetCounts();
  t.is((await d.client.evict({ tenant: 'demo', id: 'ev' })).evicted, 1);
  await d.client.encrypt({ tenant: 'demo', policyId: 'ev', plaintext: Buffer.from('x') });
  t.is(d.provider.counts.unwrap, 1);
  t.is((await d.client.getPolicy('demo', 'ev')).state, 'POLICY_STATE_ACTIVE');
});

test.serial('a revocation written by another process to the shared registry file evicts here too', async (t) => {
  await createPolicy(d.client, 'rv-other-process');
  await d.client.encrypt({ tenant: 'demo', policyId: 'rv-other-process', plaintext: Buffer.from('x') });
  const { createFileRegistry } = await import('../src/registry/file-registry.js');
  const other = createFileRegistry({ path: d.config.registryPath, watch: false });
  await other.open();
  const record = other.get('demo', 'rv-other-process')!;
  await other.update({ ...record, state: 'revoked', stateReason: 'other instance' }, record.revision);
  await other.close();
  await waitFor(
    () => !d.daemon.cache.entries().some((e) => e.policyId === 'rv-other-process'),
    'the file watcher to apply the revocation',
  );
  t.is(d.daemon.cache.entries().filter((e) => e.policyId === 'rv-other-process').length, 0);
  t.is(
    (await codeOf(d.client.encrypt({ tenant: 'demo', policyId: 'rv-other-process', plaintext: Buffer.from('x') })))
      .code,
    grpc.status.FAILED_PRECONDITION,
  );
});

test.serial('the provider saying revoked on an unwrap evicts every cached version of the policy', async (t) => {
  await createPolicy(d.client, 'rv-provider');
  const v1 = (await d.client.encrypt({ tenant: 'demo', policyId: 'rv-provider', plaintext: Buffer.from('x') }))
    .envelope;
  await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rv-provider' });
  await d.client.encrypt({ tenant: 'demo', policyId: 'rv-provider', plaintext: Buffer.from('y') }); // v2 cached
  await d.daemon.cache.evictPolicy('demo', 'rv-provider');
  await d.client.encrypt({ tenant: 'demo', policyId: 'rv-provider', plaintext: Buffer.from('y') }); // v2 cached again
  const { providerError } = await import('../src/providers/provider-error.js');
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && uri.includes('customer') ? providerError('access_denied', uri, 'injected') : undefined;
  try {
    t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope: v1 }))).code, grpc.status.FAILED_PRECONDITION);
    t.is(d.daemon.cache.entries().filter((e) => e.policyId === 'rv-provider').length, 0, 'v2 evicted too');
  } finally {
    d.provider.fail = undefined;
  }
});
