import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { providerError } from '../src/providers/provider-error.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Recovery only for unavailable keys: the availability key re-protects a policy whose
 * customer keys are lost or unreachable, never one whose customer revoked a key. Any customer key that says
 * revoked (disabled in the keystore), or a revoked policy, refuses RollKey/Refresh with recovery: nothing
 * changes, and the refusal is audited.
 */
let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ callerRoles: 'user,system,admin' });
  const ks = openLocalKeystore(d.config.keystorePath);
  for (const k of ['rc-a', 'rc-b', 'rc-c']) await ks.createKey(k);
});
test.after.always(async () => {
  await d?.stop();
});

async function policy(id: string) {
  await d.client.createPolicy({
    tenant: 'demo',
    id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: 'local:rc-a',
    customerKeyB: 'local:rc-b',
    availabilityKey: '',
  });
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: id,
    plaintext: Buffer.from(`content of ${id}`),
  });
  await d.client.evict({ tenant: 'demo', id });
  return envelope;
}

async function audit(id: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(d.config.auditLogPath, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.policyId === id);
}

const roll = (id: string) =>
  d.client.rollKey({
    tenant: 'demo',
    id,
    role: 'customer-a',
    newKeyUri: 'local:rc-c',
    recovery: true,
    reason: 'ticket 7',
  });
const refresh = (id: string) => d.client.refresh({ tenant: 'demo', id, recovery: true, reason: 'ticket 7' });

async function expectRefused(t: import('ava').ExecutionContext, id: string, what: string) {
  const before = d.daemon.registry.get('demo', id)!;
  const uses = d.daemon.unwrapper.availabilityKeyUses;
  for (const [name, op] of [
    ['RollKey', roll],
    ['Refresh', refresh],
  ] as const) {
    const err = await codeOf(op(id));
    t.is(err.code, grpc.status.FAILED_PRECONDITION, `${what}: ${name} with recovery`);
    t.regex(err.details, /recovery refused/);
  }
  const after = d.daemon.registry.get('demo', id)!;
  t.is(after.revision, before.revision, `${what}: nothing changed`);
  t.is(after.state, before.state);
  t.deepEqual(after.keys, before.keys);
  t.is(d.daemon.unwrapper.availabilityKeyUses, uses, `${what}: the availability key was not used`);
}

test.serial(
  'both customer keys revoked (disabled): RollKey and Refresh with recovery are refused, audited, and nothing changes',
  async (t) => {
    const envelope = await policy('rec-revoked');
    const ks = openLocalKeystore(d.config.keystorePath);
    await ks.setEnabled('rc-a', false);
    await ks.setEnabled('rc-b', false);
    try {
      await expectRefused(t, 'rec-revoked', 'both revoked');
      // The customer's revocation stands: a user still cannot decrypt.
      t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope }))).code, grpc.status.FAILED_PRECONDITION);
    } finally {
      await ks.setEnabled('rc-a', true);
      await ks.setEnabled('rc-b', true);
    }
    const refused = (await audit('rec-revoked')).filter((r) => r.type === 'recovery.refused');
    t.is(refused.length, 2);
    // The classes of the failures: RollKey met both at the unwrap; Refresh met key A's at asking for its latest version.
    const failures = refused.map((r) => String((r.details as Record<string, unknown>).failures));
    t.true(
      failures.every((f) => /customer-a: revoked/.test(f)),
      failures.join(' | '),
    );
    t.true(
      failures.some((f) => /customer-b: revoked/.test(f)),
      failures.join(' | '),
    );
    // No key material in the records: no wrapped copy of the policy appears in them.
    const copies = d.daemon.registry
      .get('demo', 'rec-revoked')!
      .versions.flatMap((v) => v.copies.map((c) => c.ciphertext));
    const text = JSON.stringify(refused);
    t.false(copies.some((c) => text.includes(c)));
  },
);

test.serial('one customer key revoked, the other unavailable: recovery is refused', async (t) => {
  await policy('rec-mixed');
  const ks = openLocalKeystore(d.config.keystorePath);
  await ks.setEnabled('rc-a', false);
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && uri.startsWith('local:rc-b') ? providerError('server_error', uri, 'injected') : undefined;
  try {
    await expectRefused(t, 'rec-mixed', 'mixed');
  } finally {
    d.provider.fail = undefined;
    await ks.setEnabled('rc-a', true);
  }
});

test.serial('a revoked policy: recovery is refused and audited', async (t) => {
  await policy('rec-policy-revoked');
  await d.client.revoke({ tenant: 'demo', id: 'rec-policy-revoked' });
  await expectRefused(t, 'rec-policy-revoked', 'policy revoked');
  t.is((await audit('rec-policy-revoked')).filter((r) => r.type === 'recovery.refused').length, 2);
});

test.serial('both customer keys unavailable: recovery through the availability key works', async (t) => {
  const envelope = await policy('rec-unavailable');
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && /^local:rc-[ab]/.test(uri) ? providerError('server_error', uri, 'injected') : undefined;
  try {
    const rolled = await roll('rec-unavailable');
    t.is(rolled.customerKeys[0]!.uri.replace(/\/\d+$/, ''), 'local:rc-c');
  } finally {
    d.provider.fail = undefined;
  }
  t.true(
    (await audit('rec-unavailable')).some(
      (r) => r.type === 'availability_key.used' && /operator recovery.*ticket 7/.test(String(r.reason)),
    ),
  );
  // The new copy under rc-c serves with key A's old copies gone.
  await d.client.evict({ tenant: 'demo', id: 'rec-unavailable' });
  const ks = openLocalKeystore(d.config.keystorePath);
  await ks.setEnabled('rc-b', false);
  try {
    t.is((await d.client.decrypt({ tenant: 'demo', envelope })).plaintext.toString(), 'content of rec-unavailable');
  } finally {
    await ks.setEnabled('rc-b', true);
  }
});
