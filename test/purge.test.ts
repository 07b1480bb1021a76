import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ callerRoles: 'user,system,admin' });
  const ks = openLocalKeystore(d.config.keystorePath);
  await ks.createKey('purge-a');
  await ks.createKey('purge-b');
});
test.after.always(async () => {
  await d?.stop();
});

async function purgePolicy(id: string) {
  await d.client.createPolicy({ tenant: 'demo', id, mode: 'POLICY_MODE_MAILBOX', customerKeyA: 'local:purge-a', customerKeyB: 'local:purge-b', availabilityKey: '' });
  return (await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.from(`data of ${id}`) })).envelope;
}

test.serial('Purge is refused unless the policy is revoked', async (t) => {
  await purgePolicy('p-active');
  const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-active', force: true, reason: 'x' }));
  t.is(err.code, grpc.status.FAILED_PRECONDITION);
  t.regex(err.details, /revoke it before purging/);
});

test.serial('Purge is refused while the provider still reaches a customer key, unless forced with a reason', async (t) => {
  await purgePolicy('p-reachable');
  await d.client.revoke({ tenant: 'demo', id: 'p-reachable' });
  const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-reachable' }));
  t.is(err.code, grpc.status.FAILED_PRECONDITION);
  t.regex(err.details, /still accessible/);
  t.is((await codeOf(d.client.purge({ tenant: 'demo', id: 'p-reachable', force: true }))).code, grpc.status.INVALID_ARGUMENT, 'force needs a reason');
  const receipt = await d.client.purge({ tenant: 'demo', id: 'p-reachable', force: true, reason: 'legal hold released, ticket 7' });
  t.true(receipt.forced);
  const audit = (await readFile(d.config.auditLogPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const record = audit.find((r) => r.type === 'policy.purged' && r.policyId === 'p-reachable')!;
  t.is(record.reason, 'legal hold released, ticket 7');
  t.is(record.hash, receipt.auditRecordHash);
});

test.serial('after purge nothing decrypts the policy, even when the customer keys are restored', async (t) => {
  const envelope = await purgePolicy('p-revoked');
  await d.client.revoke({ tenant: 'demo', id: 'p-revoked', reason: 'customer left' });
  const ks = openLocalKeystore(d.config.keystorePath);
  await ks.setEnabled('purge-a', false);
  await ks.setEnabled('purge-b', false);
  const receipt = await d.client.purge({ tenant: 'demo', id: 'p-revoked' });
  t.false(receipt.forced);
  t.is(receipt.versionsDestroyed, 1);
  t.is(receipt.copiesDestroyed, 3);
  t.regex(receipt.auditRecordHash, /^[0-9a-f]{64}$/);

  // The registry holds no wrapped copy of anything of this policy any more.
  const file = await readFile(d.config.registryPath, 'utf8');
  const stored = (JSON.parse(file) as { policies: Array<{ id: string; state: string; versions: Array<{ copies: unknown[] }> }> }).policies.find((p) => p.id === 'p-revoked')!;
  t.is(stored.state, 'purged');
  t.true(stored.versions.every((v) => v.copies.length === 0));

  await ks.setEnabled('purge-a', true);
  await ks.setEnabled('purge-b', true);
  for (const purpose of ['PURPOSE_USER', 'PURPOSE_SYSTEM'] as const) {
    t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope, purpose }))).code, grpc.status.FAILED_PRECONDITION);
  }
  const shown = await d.client.getPolicy('demo', 'p-revoked');
  t.is(shown.state, 'POLICY_STATE_PURGED');
  t.is((await codeOf(d.client.purge({ tenant: 'demo', id: 'p-revoked' }))).code, grpc.status.FAILED_PRECONDITION, 'purged once');
  t.is((await codeOf(d.client.createPolicy({ tenant: 'demo', id: 'p-revoked', customerKeyA: 'local:purge-a', customerKeyB: 'local:purge-b', availabilityKey: '' }))).code, grpc.status.ALREADY_EXISTS, 'the tombstone keeps the id');
});

test.serial('the purge-check asks the provider about every customer key version still wrapping something', async (t) => {
  await purgePolicy('p-unavailable');
  await d.client.revoke({ tenant: 'demo', id: 'p-unavailable' });
  const { providerError } = await import('../src/providers/provider-error.js');
  d.provider.fail = (op, uri) => (op === 'status' && uri.startsWith('local:purge-') ? providerError('timeout', uri, 'injected') : undefined);
  try {
    const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-unavailable' }));
    t.is(err.code, grpc.status.FAILED_PRECONDITION);
    t.regex(err.details, /unavailable .* not revoked/);
  } finally {
    d.provider.fail = undefined;
  }
});
