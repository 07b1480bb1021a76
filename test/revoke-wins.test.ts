import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../src/config/config.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { postgresDependency, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const pgAvailable = requireSystemDependency(test, import.meta.url, postgresDependency());

/**
 * Revoke and Purge always win, with both registries: never refused because of a
 * concurrent roll, refresh, rotation or another Revoke/Purge; idempotent; a running roll sees the revocation
 * and stops without writing over it.
 */
let pgServer: TestPostgres | undefined;
const daemons: Record<string, TestDaemon> = {};

const BACKENDS: Array<[string, () => Promise<Partial<Config>>]> = [
  ['file registry', async () => ({})],
  [
    'PostgreSQL registry',
    async () => ({
      registryBackend: 'postgres',
      pgUrl: await (pgServer ??= await startTestPostgres()).createDatabase('revoke_wins'),
      demo: true,
    }),
  ],
];

test.after.always(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await pgServer?.stop();
});

const keysMade = new WeakSet<TestDaemon>();

/**
 * A policy on customer keys rw-a and rw-b with `versions` intermediate-key versions. RollKey moves its
 * customer-a role to rw-c (`ROLL`): every version has to be rewrapped. Keys are made once per daemon (RSA key
 * generation is slow on a busy machine).
 */
async function policyWithVersions(d: TestDaemon, id: string, versions: number) {
  if (!keysMade.has(d)) {
    const ks = openLocalKeystore(d.config.keystorePath);
    for (const k of ['rw-a', 'rw-b', 'rw-c']) await ks.createKey(k);
    keysMade.add(d);
  }
  await d.client.createPolicy({
    tenant: 'demo',
    id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: 'local:rw-a',
    customerKeyB: 'local:rw-b',
    availabilityKey: '',
  });
  for (let v = 2; v <= versions; v++)
    await d.client.rotateIntermediateKey({ tenant: 'demo', id, minDecryptVersion: 0 });
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: id,
    plaintext: Buffer.from(`content of ${id}`),
  });
  return { envelope };
}

const ROLL = { role: 'customer-a', newKeyUri: 'local:rw-c' } as const;

/** Resolves once `check` holds, checked every millisecond (not every turn of the event loop, which spins a core). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

/** The policy's audit records, from the daemon's trail (the file, or PostgreSQL's table). */
async function auditOf(d: TestDaemon, id: string): Promise<Array<Record<string, unknown>>> {
  return (await d.daemon.audit.list({ policyId: id }, 10_000)) as unknown as Array<Record<string, unknown>>;
}

for (const [backend, overrides] of BACKENDS) {
  const daemon = async () => (daemons[backend] ??= await startTestDaemon(await overrides()));
  const serial = backend === 'file registry' || pgAvailable ? test.serial : test.serial.skip;

  serial(
    `${backend}: Revoke during a RollKey wins, the roll stops with FAILED_PRECONDITION and the policy stays revoked`,
    async (t) => {
      const d = await daemon();
      const { envelope } = await policyWithVersions(d, 'roll-vs-revoke', 3);
      // A slow roll: every wrap takes a while, so the revocation lands in the middle of it.
      d.provider.latencyFor = (op) => (op === 'wrap' ? 100 : undefined);
      try {
        const roll = codeOf(d.client.rollKey({ tenant: 'demo', id: 'roll-vs-revoke', ...ROLL }));
        await until(() => d.daemon.registry.get('demo', 'roll-vs-revoke')?.state === 'rolling');
        // Eight operators revoke at once, mid-roll: every one is acknowledged.
        const revokes = await Promise.allSettled(
          Array.from({ length: 8 }, () =>
            d.client.revoke({ tenant: 'demo', id: 'roll-vs-revoke', reason: 'customer revoked' }),
          ),
        );
        for (const r of revokes) {
          t.is(r.status, 'fulfilled', r.status === 'rejected' ? String((r.reason as grpc.ServiceError).details) : '');
          if (r.status === 'fulfilled') t.is(r.value.state, 'POLICY_STATE_REVOKED');
        }
        const revision = d.daemon.registry.get('demo', 'roll-vs-revoke')!.revision;
        const rolled = await roll;
        t.is(rolled.code, grpc.status.FAILED_PRECONDITION);
        t.regex(rolled.details, /revoked during the roll/);
        const after = d.daemon.registry.get('demo', 'roll-vs-revoke')!;
        t.is(after.state, 'revoked', 'the roll did not write over the revocation');
        t.is(after.revision, revision, 'nothing was written after the revocation');
      } finally {
        d.provider.latencyFor = undefined;
      }
      t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope }))).code, grpc.status.FAILED_PRECONDITION);
      t.is(
        (await auditOf(d, 'roll-vs-revoke')).filter((r) => r.type === 'policy.revoked').length,
        1,
        'one revocation written and audited',
      );
    },
  );

  serial(`${backend}: Revoke during a Refresh or a RotateIntermediateKey wins; neither writes over it`, async (t) => {
    const d = await daemon();
    for (const op of ['refresh', 'rotation'] as const) {
      const id = `${op}-vs-revoke`;
      await policyWithVersions(d, id, 2);
      if (op === 'refresh') await openLocalKeystore(d.config.keystorePath).rotateKey('rw-b'); // Refresh has work
      const before = d.daemon.registry.get('demo', id)!;
      let wraps = 0;
      d.provider.latencyFor = (o) => (o === 'wrap' ? (wraps++, 100) : undefined);
      try {
        const running = codeOf(
          op === 'refresh'
            ? d.client.refresh({ tenant: 'demo', id })
            : d.client.rotateIntermediateKey({ tenant: 'demo', id, minDecryptVersion: 0 }),
        );
        await until(() => wraps > 0);
        t.is((await d.client.revoke({ tenant: 'demo', id })).state, 'POLICY_STATE_REVOKED');
        const revision = d.daemon.registry.get('demo', id)!.revision;
        const result = await running;
        t.is(result.code, grpc.status.FAILED_PRECONDITION, `${op}: ${result.details}`);
        t.regex(result.details, op === 'refresh' ? /revoked during the roll/ : /revoked during the rotation/);
        const after = d.daemon.registry.get('demo', id)!;
        t.is(after.state, 'revoked');
        t.is(after.revision, revision, `${op}: nothing written after the revocation`);
        t.is(after.activeVersion, before.activeVersion);
      } finally {
        d.provider.latencyFor = undefined;
      }
    }
  });

  serial(
    `${backend}: a Revoke started at any step of a RollKey is acknowledged, and the policy ends revoked`,
    async (t) => {
      const d = await daemon();
      // Provider calls of a roll of 2 versions: resolve, then per version unwrap, wrap and the verifying unwrap.
      for (let step = 1; step <= 7; step++) {
        const id = `roll-step-${step}`;
        await policyWithVersions(d, id, 2);
        await d.client.evict({ tenant: 'demo', id });
        let calls = 0;
        let revoke: Promise<unknown> | undefined;
        d.provider.latencyFor = () => {
          if (++calls === step) revoke = d.client.revoke({ tenant: 'demo', id, reason: `at step ${step}` });
          return undefined;
        };
        let rolled: { code: number; details: string } | 'ok';
        try {
          rolled = await d.client.rollKey({ tenant: 'demo', id, ...ROLL }).then(
            () => 'ok' as const,
            (e: grpc.ServiceError) => ({ code: e.code, details: e.details }),
          );
        } finally {
          d.provider.latencyFor = undefined;
        }
        t.truthy(revoke, `step ${step} reached`);
        const revoked = await revoke!.then(
          () => 'ok',
          (e: grpc.ServiceError) => `${grpc.status[e.code]}: ${e.details}`,
        );
        t.is(revoked, 'ok', `step ${step}: the Revoke is never refused`);
        if (rolled !== 'ok') {
          t.is(rolled.code, grpc.status.FAILED_PRECONDITION, `step ${step}: ${rolled.details}`);
          t.regex(rolled.details, /revoked during the roll/);
        }
        t.is(d.daemon.registry.get('demo', id)!.state, 'revoked', `step ${step}: the policy stays revoked`);
      }
    },
  );

  serial(`${backend}: eight concurrent Revokes of one policy all succeed, one of them writing`, async (t) => {
    const d = await daemon();
    await policyWithVersions(d, 'many-revokes', 1);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => d.client.revoke({ tenant: 'demo', id: 'many-revokes' })),
    );
    t.deepEqual(
      results.map((r) => r.status),
      Array(8).fill('fulfilled'),
    );
    t.is(d.daemon.registry.get('demo', 'many-revokes')!.state, 'revoked');
    t.is((await auditOf(d, 'many-revokes')).filter((r) => r.type === 'policy.revoked').length, 1);
    // And again, later: idempotent.
    t.is((await d.client.revoke({ tenant: 'demo', id: 'many-revokes' })).state, 'POLICY_STATE_REVOKED');
  });

  serial(
    `${backend}: concurrent Purges all succeed, one destroying; a Purge of a purged policy is OK and destroys nothing`,
    async (t) => {
      const d = await daemon();
      await policyWithVersions(d, 'many-purges', 2);
      await d.client.revoke({ tenant: 'demo', id: 'many-purges' });
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () =>
          d.client.purge({ tenant: 'demo', id: 'many-purges', force: true, reason: 'test' }),
        ),
      );
      t.deepEqual(
        results.map((r) => r.status),
        Array(8).fill('fulfilled'),
      );
      const receipts = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      t.is(receipts.filter((r) => r.copiesDestroyed > 0).length, 1, 'one purge destroyed the copies');
      t.true(receipts.every((r) => r.purgedAt === receipts[0]!.purgedAt || r.copiesDestroyed === 0));
      t.is(d.daemon.registry.get('demo', 'many-purges')!.state, 'purged');
      t.is((await auditOf(d, 'many-purges')).filter((r) => r.type === 'policy.purged').length, 1);
      const again = await d.client.purge({ tenant: 'demo', id: 'many-purges', force: true, reason: 'test' });
      t.is(again.copiesDestroyed, 0);
      t.is(again.versionsDestroyed, 0);
    },
  );
}
