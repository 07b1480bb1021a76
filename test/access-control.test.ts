import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer as collect } from 'node:stream/consumers';
import { UnwrapdClient } from '../src/client/client.js';
import { codeOf, createPolicy, productionRoles, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/** Who may call: the two surfaces, roles, tenant and policy grants, denials named, counted and audited. */

const text = (s: string) => Buffer.from(s);
const socketOf = (address: string) => address.slice('unix://'.length);

/** A tenant's envelope made in-process (the data socket under test may not be granted that tenant). */
async function envelopeOf(d: TestDaemon, tenant: string, policyId: string): Promise<Buffer> {
  const out = await d.daemon.crypto.encrypt({
    tenant,
    policyId,
    plaintext: text(`secret of ${tenant}`),
    context: {},
    purpose: 'user',
    requestId: '',
    signal: new AbortController().signal,
  });
  return out.envelope;
}

async function auditRecords(
  d: TestDaemon,
): Promise<
  Array<{ type: string; actor?: string; tenant: string; policyId: string; details?: Record<string, unknown> }>
> {
  const lines = (await readFile(d.daemon.audit.path, 'utf8')).split('\n').filter((l) => l.length > 0);
  return lines.map((l) => JSON.parse(l));
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1)); // not setImmediate: that spins a core the daemon needs
  }
}

test('every Admin RPC is refused (UNIMPLEMENTED) on the data listener and works on the admin listener', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  // A client whose Admin calls go to the data socket: what an application sharing that socket would try.
  const app = new UnwrapdClient(d.daemon.address, { adminAddress: d.daemon.address });
  t.teardown(() => app.close());
  const target = { tenant: 'demo', id: 'demo-mailbox' };
  const onData: Array<[string, Promise<unknown>]> = [
    [
      'CreatePolicy',
      app.createPolicy({
        tenant: 'demo',
        id: 'x',
        customerKeyA: 'local:demo-customer-a',
        customerKeyB: 'local:demo-customer-b',
        availabilityKey: '',
      }),
    ],
    ['GetPolicy', app.getPolicy('demo', 'demo-mailbox')],
    ['ListPolicies', app.listPolicies()],
    ['RollKey', app.rollKey({ ...target, role: 'customer-a' })],
    ['Refresh', app.refresh(target)],
    ['RotateIntermediateKey', app.rotateIntermediateKey(target)],
    ['Revoke', app.revoke({ ...target, reason: 'x' })],
    ['Purge', app.purge({ ...target, force: true, reason: 'x' })],
    ['Evict', app.evict({ tenant: '' })],
    ['GetStatus', app.getStatus()],
    [
      'WatchEvents',
      new Promise((resolve, reject) => {
        const s = app.admin.WatchEvents({ fromSequence: '1' });
        s.on('data', resolve);
        s.on('error', reject);
      }),
    ],
  ];
  for (const [method, call] of onData)
    t.is((await codeOf(call)).code, grpc.status.UNIMPLEMENTED, `${method} on the data listener`);
  t.is(d.daemon.registry.get('demo', 'demo-mailbox')?.state, 'active', 'nothing happened to the policy');

  // The same calls on the admin listener.
  const c = d.client;
  await createPolicy(c, 'adm');
  const p = { tenant: 'demo', id: 'adm' };
  t.is((await c.getPolicy('demo', 'adm')).id, 'adm');
  t.true((await c.listPolicies()).policies.some((x) => x.id === 'adm'));
  t.is((await c.rollKey({ ...p, role: 'customer-a' })).id, 'adm');
  t.is((await c.refresh(p)).id, 'adm');
  t.is((await c.rotateIntermediateKey(p)).activeVersion, 2);
  await c.evict({ tenant: '' });
  const status = await c.getStatus();
  t.is(status.listen, d.daemon.address);
  t.is(status.adminListen, d.daemon.adminAddress);
  const event = await new Promise<{ sequence: string }>((resolve, reject) => {
    const s = c.admin.WatchEvents({ fromSequence: '1' });
    s.on('data', (e: { sequence: string }) => {
      resolve(e);
      s.cancel();
    });
    s.on('error', reject);
  });
  t.is(event.sequence, '1');
  t.is((await c.revoke({ ...p, reason: 'test' })).state, 'POLICY_STATE_REVOKED');
  t.is((await c.purge({ ...p, force: true, reason: 'test' })).id, 'adm');
});

test('a user caller cannot claim PURPOSE_SYSTEM (production defaults: the data socket is user only)', async (t) => {
  const d = await startTestDaemon({ ...productionRoles });
  t.teardown(() => d.stop());
  const { envelope } = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: text('x') });
  for (const call of [
    d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: text('x'), purpose: 'PURPOSE_SYSTEM' }),
    d.client.decrypt({ tenant: 'demo', envelope, purpose: 'PURPOSE_SYSTEM' }),
    d.client.decryptBatch({ tenant: 'demo', items: [{ envelope }], purpose: 'PURPOSE_SYSTEM' }),
    collect(d.client.decryptStream({ tenant: 'demo', purpose: 'PURPOSE_SYSTEM' }, [envelope])),
  ]) {
    const err = await codeOf(call);
    t.is(err.code, grpc.status.PERMISSION_DENIED);
    t.true(err.details.includes(`caller unix:${socketOf(d.daemon.address)} lacks the system role`), err.details);
  }
  t.is((await d.client.decrypt({ tenant: 'demo', envelope })).plaintext.toString(), 'x', 'the user purpose works');
});

test('a caller without the recovery role cannot recover (RollKey/Refresh with recovery) or force a purge; admin does not imply it', async (t) => {
  const d = await startTestDaemon({ ...productionRoles });
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'rec');
  const p = { tenant: 'demo', id: 'rec' };
  const admin = `caller unix:${socketOf(d.daemon.adminAddress)}`;
  for (const [what, call] of [
    ['RollKey with recovery', d.client.rollKey({ ...p, role: 'customer-a', recovery: true, reason: 'lost key' })],
    ['Refresh with recovery', d.client.refresh({ ...p, recovery: true, reason: 'lost key' })],
    ['a forced Purge', d.client.purge({ ...p, force: true, reason: 'gone' })],
  ] as const) {
    const err = await codeOf(call);
    t.is(err.code, grpc.status.PERMISSION_DENIED, what);
    t.is(err.details, `${what}: ${admin} lacks the recovery role`);
  }
  t.is(d.daemon.registry.get('demo', 'rec')?.state, 'active');
  // The same admin may revoke (admin) and a plain purge is judged on the policy's state, not refused for the role.
  await d.client.revoke({ ...p, reason: 'test' });
  t.not((await codeOf(d.client.purge(p))).code, grpc.status.PERMISSION_DENIED);
});

test('an identity bound to tenant A is refused on every Crypto RPC for tenant B, including Rewrap into B, and the error names only what it sent', async (t) => {
  const d = await startTestDaemon({
    authorization: [{ identity: 'data', roles: ['user', 'system'], tenants: ['demo'] }],
  });
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'victim-mail', 'victim');
  await createPolicy(d.client, 'victim-hidden', 'victim');
  const victimEnvelope = await envelopeOf(d, 'victim', 'victim-mail');
  const { envelope: ownEnvelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: text('mine'),
  });
  const B = 'victim';
  const calls: Array<[string, Promise<unknown>]> = [
    ['Encrypt', d.client.encrypt({ tenant: B, policyId: 'victim-mail', plaintext: text('x') })],
    ['Decrypt', d.client.decrypt({ tenant: B, envelope: victimEnvelope })],
    ['EncryptBatch', d.client.encryptBatch({ tenant: B, policyId: 'victim-mail', items: [{ plaintext: text('x') }] })],
    ['DecryptBatch', d.client.decryptBatch({ tenant: B, items: [{ envelope: victimEnvelope }] })],
    ['EncryptStream', collect(d.client.encryptStream({ tenant: B, policyId: 'victim-mail' }, [text('x')]))],
    ['DecryptStream', collect(d.client.decryptStream({ tenant: B }, [victimEnvelope]))],
    ['Rewrap', d.client.rewrap({ tenant: B, envelope: victimEnvelope })],
    ['Rewrap', d.client.rewrap({ tenant: B, envelope: ownEnvelope, targetPolicyId: 'victim-mail' })],
  ];
  const caller = `unix:${socketOf(d.daemon.address)}`;
  for (const [method, call] of calls) {
    const err = await codeOf(call);
    t.is(err.code, grpc.status.PERMISSION_DENIED, method);
    t.is(err.details, `${method}: caller ${caller} lacks tenant "${B}"`, method);
    t.false(err.details.includes('victim-hidden'), 'no other policy of the tenant is named');
  }
  // Rewrap into B's policy from A's tenant: the target is looked up in A only (no such policy there).
  t.is(
    (await codeOf(d.client.rewrap({ tenant: 'demo', envelope: ownEnvelope, targetPolicyId: 'victim-mail' }))).code,
    grpc.status.NOT_FOUND,
  );
  // Tenant A still works.
  t.is((await d.client.decrypt({ tenant: 'demo', envelope: ownEnvelope })).plaintext.toString(), 'mine');
});

test('an identity bound to some policies is refused any other policy of its tenant: Encrypt, Decrypt, batches, streams, Rewrap source and target', async (t) => {
  // Two identities on the data listener (a plugged-in identity source, as TLS would give): `tls:limited` may
  // use demo/demo-mailbox only; everyone else on the socket gets the whole tenant.
  const d = await startTestDaemon(
    {
      authorization: [
        { identity: 'tls:limited', roles: ['user'], tenants: ['demo'], policies: ['demo/demo-mailbox'] },
        { identity: 'data', roles: ['user'], tenants: ['demo'] },
      ],
    },
    {
      transport: {
        data: { identity: (call) => (call.metadata?.get('x-test-identity')[0] as string | undefined) ?? 'tls:full' },
      },
    },
  );
  t.teardown(() => d.stop());
  const limited = { metadata: new grpc.Metadata() };
  limited.metadata.set('x-test-identity', 'tls:limited');
  await createPolicy(d.client, 'other');
  const { envelope: other } = await d.client.encrypt({ tenant: 'demo', policyId: 'other', plaintext: text('theirs') });
  const otherSegmented = await collect(d.client.encryptStream({ tenant: 'demo', policyId: 'other' }, [text('theirs')]));
  const { envelope: mine } = await d.client.encrypt(
    { tenant: 'demo', policyId: 'demo-mailbox', plaintext: text('mine') },
    limited,
  );
  const segmented = await collect(
    d.client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, [text('mine')], limited),
  );
  for (const [method, call] of [
    ['Encrypt', d.client.encrypt({ tenant: 'demo', policyId: 'other', plaintext: text('x') }, limited)],
    ['Decrypt', d.client.decrypt({ tenant: 'demo', envelope: other }, limited)],
    [
      'EncryptBatch',
      d.client.encryptBatch({ tenant: 'demo', policyId: 'other', items: [{ plaintext: text('x') }] }, limited),
    ],
    [
      'DecryptBatch',
      d.client.decryptBatch({ tenant: 'demo', items: [{ envelope: mine }, { envelope: other }] }, limited),
    ],
    ['EncryptStream', collect(d.client.encryptStream({ tenant: 'demo', policyId: 'other' }, [text('x')], limited))],
    ['DecryptStream', collect(d.client.decryptStream({ tenant: 'demo' }, [otherSegmented], limited))],
    ['Rewrap', d.client.rewrap({ tenant: 'demo', envelope: other, targetPolicyId: 'demo-mailbox' }, limited)],
    ['Rewrap', d.client.rewrap({ tenant: 'demo', envelope: mine, targetPolicyId: 'other' }, limited)],
  ] as const) {
    const err = await codeOf(call as Promise<unknown>);
    t.is(err.code, grpc.status.PERMISSION_DENIED, method);
    t.is(err.details, `${method}: caller tls:limited lacks policy "demo/other"`, method);
  }
  t.is((await d.client.decrypt({ tenant: 'demo', envelope: mine }, limited)).plaintext.toString(), 'mine');
  t.is((await collect(d.client.decryptStream({ tenant: 'demo' }, [segmented], limited))).toString(), 'mine');
  t.is(
    (await d.client.decrypt({ tenant: 'demo', envelope: other })).plaintext.toString(),
    'theirs',
    'the other identity is not limited',
  );
});

test('Admin calls check the tenant they name; ListPolicies shows only granted tenants; GetStatus and Evict of everything need every tenant', async (t) => {
  const d = await startTestDaemon({ authorization: [{ identity: 'admin', roles: ['admin'], tenants: ['demo'] }] });
  t.teardown(() => d.stop());
  // The table binds the admin socket to tenant demo; a second policy in another tenant made in-process.
  await d.daemon.policies.create({
    tenant: 'other',
    id: 'hidden',
    name: 'hidden',
    mode: 'mailbox',
    geo: '',
    keys: { 'customer-a': 'local:demo-customer-a', 'customer-b': 'local:demo-customer-b', availability: '' },
    requestId: '',
    signal: new AbortController().signal,
  });
  t.deepEqual(
    (await d.client.listPolicies()).policies.map((p) => `${p.tenant}/${p.id}`),
    ['demo/demo-mailbox'],
  );
  for (const call of [
    d.client.getPolicy('other', 'hidden'),
    d.client.revoke({ tenant: 'other', id: 'hidden', reason: 'x' }),
    d.client.listPolicies('other'),
    createPolicy(d.client, 'p', 'other'),
  ]) {
    const err = await codeOf(call);
    t.is(err.code, grpc.status.PERMISSION_DENIED);
    t.regex(err.details, /lacks tenant "other"$/);
  }
  t.regex((await codeOf(d.client.getStatus())).details, /^GetStatus: caller unix:.*admin\.sock lacks every tenant$/);
  t.is((await codeOf(d.client.evict({ tenant: '' }))).code, grpc.status.PERMISSION_DENIED);
  t.is((await d.client.evict({ tenant: 'demo' })).evicted, 0);
  t.is(d.daemon.registry.get('other', 'hidden')?.state, 'active');
});

test('audit records and denials name the caller identity: unix:<socket>', async (t) => {
  const d = await startTestDaemon({ authorization: [{ identity: 'data', roles: ['user'], tenants: ['demo'] }] });
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'audited');
  await d.client.revoke({ tenant: 'demo', id: 'audited', reason: 'test' });
  const denied = await codeOf(d.client.encrypt({ tenant: 'elsewhere', policyId: 'p', plaintext: text('x') }));
  t.true(denied.details.includes(`unix:${socketOf(d.daemon.address)}`));
  await eventually(async () => (await auditRecords(d)).some((r) => r.type === 'access.denied'));
  const records = await auditRecords(d);
  const adminActor = `unix:${socketOf(d.daemon.adminAddress)}`;
  t.is(records.find((r) => r.type === 'policy.created' && r.policyId === 'audited')?.actor, adminActor);
  t.is(records.find((r) => r.type === 'policy.revoked')?.actor, adminActor);
  t.like(
    records.find((r) => r.type === 'access.denied'),
    {
      actor: `unix:${socketOf(d.daemon.address)}`,
      tenant: 'elsewhere',
      details: { method: 'Encrypt', missing: 'tenant "elsewhere"' },
    },
  );
  t.false(JSON.stringify(records).includes('tcp:unknown'));
});

test('a flood of denials grows the audit log by a bounded amount, and every denial is counted', async (t) => {
  const perMinute = 5;
  const dir = await mkdtemp(join(tmpdir(), 'uwd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const d = await startTestDaemon({ ...productionRoles, denialAuditPerMinute: perMinute }, { dir });
  const before = d.daemon.audit.head().count;
  const flood = 300;
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: flood }, () =>
      codeOf(
        d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: text('x'), purpose: 'PURPOSE_SYSTEM' }),
      ),
    ),
  );
  t.true(results.every((r) => r.code === grpc.status.PERMISSION_DENIED));
  t.is((await d.client.getStatus()).accessDenied, String(flood));
  await eventually(() => d.daemon.audit.head().count - before >= perMinute);
  const path = d.daemon.audit.path;
  await d.stop(); // flushes the one summary
  const records = (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { type: string; details?: { suppressed?: number } });
  const denials = records.filter((r) => r.type === 'access.denied');
  // The bucket refills at perMinute a minute: on a slow machine a token may come back mid-flood (one record
  // and one summary each), so the bound allows for the elapsed time; it stays far below one per denial.
  const refills = Math.ceil(((Date.now() - started) * perMinute) / 60_000);
  t.true(denials.length <= perMinute + 1 + 2 * refills, `${denials.length} denial records for ${flood} denials`);
  t.true(denials.length < flood / 10);
  t.is(
    denials.reduce((n, r) => n + (r.details?.suppressed ?? 1), 0),
    flood,
    'written plus suppressed is every denial',
  );
});

test('an identity source plugs in per listener: a table entry for that identity decides (tls:/mesh: identities from the transport)', async (t) => {
  const d = await startTestDaemon(
    {
      authorization: [
        { identity: 'tls:spiffe://example.org/mail/*', roles: ['user'], tenants: ['demo'] },
        { identity: 'data', roles: [], tenants: [] },
      ],
    },
    {
      transport: {
        data: { identity: (call) => (call.metadata?.get('x-test-identity')[0] as string | undefined) ?? 'tls:none' },
      },
    },
  );
  t.teardown(() => d.stop());
  const as = (id: string) => {
    const m = new grpc.Metadata();
    m.set('x-test-identity', id);
    return { metadata: m };
  };
  t.truthy(
    (
      await d.client.encrypt(
        { tenant: 'demo', policyId: 'demo-mailbox', plaintext: text('x') },
        as('tls:spiffe://example.org/mail/store'),
      )
    ).envelope,
  );
  const err = await codeOf(
    d.client.encrypt(
      { tenant: 'demo', policyId: 'demo-mailbox', plaintext: text('x') },
      as('tls:spiffe://example.org/web/frontend'),
    ),
  );
  t.is(err.details, 'Encrypt: caller tls:spiffe://example.org/web/frontend lacks the user role');
});
