import test from 'ava';
import { UnwrapdClient } from '../src/client/client.js';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { providerError, type ProviderErrorReason } from '../src/providers/provider-error.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * The availability-key rules (docs/lifecycle.md), row by row: mode x failure of the customer keys x
 * purpose of the caller. Each row gets its own policy and a cold cache.
 */
let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ callerRoles: 'user,system,admin', hedgeDelayMs: 20 });
});
test.after.always(async () => {
  await d?.stop();
});

type Failure = 'unavailable' | 'revoked' | 'mixed';
const FAILURES: Record<Failure, [ProviderErrorReason, ProviderErrorReason]> = {
  unavailable: ['server_error', 'throttled'],
  revoked: ['access_denied', 'key_disabled'],
  mixed: ['access_denied', 'timeout'],
};

async function policy(id: string, mode: 'mailbox' | 'files') {
  await d.client.createPolicy({
    tenant: 'demo',
    id,
    mode: mode === 'files' ? 'POLICY_MODE_FILES' : 'POLICY_MODE_MAILBOX',
    geo: mode === 'files' ? `geo-${id}` : '',
    customerKeyA: 'local:demo-customer-a',
    customerKeyB: 'local:demo-customer-b',
    availabilityKey: '',
  });
  return (await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.from(`content of ${id}`) }))
    .envelope;
}

function failCustomerKeys(failure: Failure) {
  const [a, b] = FAILURES[failure];
  d.provider.fail = (op, uri) => {
    if (op !== 'unwrap' && op !== 'status') return undefined;
    if (uri.startsWith('local:demo-customer-a')) return providerError(a, uri, 'injected');
    if (uri.startsWith('local:demo-customer-b')) return providerError(b, uri, 'injected');
    return undefined;
  };
}

async function auditLines(): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(d.config.auditLogPath, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const ROWS: Array<{
  mode: 'mailbox' | 'files';
  failure: Failure;
  purpose: 'user' | 'system';
  expect: 'availability' | number;
}> = [
  { mode: 'mailbox', failure: 'unavailable', purpose: 'user', expect: 'availability' },
  { mode: 'mailbox', failure: 'unavailable', purpose: 'system', expect: 'availability' },
  { mode: 'mailbox', failure: 'revoked', purpose: 'user', expect: grpc.status.FAILED_PRECONDITION },
  { mode: 'mailbox', failure: 'revoked', purpose: 'system', expect: 'availability' },
  { mode: 'mailbox', failure: 'mixed', purpose: 'user', expect: grpc.status.FAILED_PRECONDITION },
  { mode: 'mailbox', failure: 'mixed', purpose: 'system', expect: 'availability' },
  { mode: 'files', failure: 'unavailable', purpose: 'user', expect: grpc.status.UNAVAILABLE },
  { mode: 'files', failure: 'unavailable', purpose: 'system', expect: grpc.status.UNAVAILABLE },
  { mode: 'files', failure: 'revoked', purpose: 'user', expect: grpc.status.FAILED_PRECONDITION },
  { mode: 'files', failure: 'revoked', purpose: 'system', expect: grpc.status.FAILED_PRECONDITION },
  { mode: 'files', failure: 'mixed', purpose: 'user', expect: grpc.status.FAILED_PRECONDITION },
  { mode: 'files', failure: 'mixed', purpose: 'system', expect: grpc.status.FAILED_PRECONDITION },
];

for (const [i, row] of ROWS.entries()) {
  const name = `${row.mode} mode, customer keys ${row.failure}, ${row.purpose} purpose: ${typeof row.expect === 'string' ? 'the availability key serves, audited' : `refused with ${grpc.status[row.expect]}`}`;
  test.serial(name, async (t) => {
    const id = `row-${i}`;
    const envelope = await policy(id, row.mode);
    await d.client.evict({ tenant: 'demo', id });
    const usesBefore = d.daemon.unwrapper.availabilityKeyUses;
    failCustomerKeys(row.failure);
    try {
      const call = d.client.decrypt({
        tenant: 'demo',
        envelope,
        purpose: row.purpose === 'system' ? 'PURPOSE_SYSTEM' : 'PURPOSE_USER',
        requestId: `req-${id}`,
      });
      if (row.expect === 'availability') {
        t.is((await call).plaintext.toString(), `content of ${id}`);
        t.is(d.daemon.unwrapper.availabilityKeyUses, usesBefore + 1);
        const record = (await auditLines()).filter((r) => r.type === 'availability_key.used' && r.policyId === id);
        t.is(record.length, 1);
        t.is(record[0]!.tenant, 'demo');
        t.is(record[0]!.keyVersion, 1);
        t.is(record[0]!.requestId, `req-${id}`);
        t.is(
          record[0]!.actor,
          `unix:${d.daemon.address.slice('unix://'.length)}`,
          'the caller whose request used the availability key',
        );
        t.regex(String(record[0]!.reason), row.failure === 'unavailable' ? /customer keys unavailable/ : /revoked/);
        const status = await d.client.getStatus();
        t.is(status.availabilityKeyUses, String(d.daemon.unwrapper.availabilityKeyUses));
      } else {
        const err = await codeOf(call);
        t.is(err.code, row.expect, err.details);
        t.is(d.daemon.unwrapper.availabilityKeyUses, usesBefore);
      }
    } finally {
      d.provider.fail = undefined;
    }
  });
}

test.serial(
  'after a revocation the availability key is never cached for users: a system use does not open the door',
  async (t) => {
    const envelope = await policy('no-leak', 'mailbox');
    await d.client.evict({ tenant: 'demo', id: 'no-leak' });
    failCustomerKeys('revoked');
    try {
      await d.client.decrypt({ tenant: 'demo', envelope, purpose: 'PURPOSE_SYSTEM' });
      t.is(d.daemon.cache.entries().filter((e) => e.policyId === 'no-leak').length, 0);
      t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope }))).code, grpc.status.FAILED_PRECONDITION);
    } finally {
      d.provider.fail = undefined;
    }
  },
);

test.serial(
  'a revoked mailbox policy still serves system callers through the availability key until purged',
  async (t) => {
    const envelope = await policy('revoked-mailbox', 'mailbox');
    await d.client.revoke({ tenant: 'demo', id: 'revoked-mailbox', reason: 'customer revoked' });
    t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope }))).code, grpc.status.FAILED_PRECONDITION);
    const res = await d.client.decrypt({ tenant: 'demo', envelope, purpose: 'PURPOSE_SYSTEM' });
    t.is(res.plaintext.toString(), 'content of revoked-mailbox');
    // The availability key reads after a revocation; it never writes new content under the revoked policy.
    const write = await codeOf(
      d.client.encrypt({
        tenant: 'demo',
        policyId: 'revoked-mailbox',
        plaintext: Buffer.from('new'),
        purpose: 'PURPOSE_SYSTEM',
      }),
    );
    t.is(write.code, grpc.status.FAILED_PRECONDITION);
    await policy('rewrap-src', 'mailbox');
    const other = (await d.client.encrypt({ tenant: 'demo', policyId: 'rewrap-src', plaintext: Buffer.from('x') }))
      .envelope;
    t.is(
      (
        await codeOf(
          d.client.rewrap({
            tenant: 'demo',
            envelope: other,
            targetPolicyId: 'revoked-mailbox',
            purpose: 'PURPOSE_SYSTEM',
          }),
        )
      ).code,
      grpc.status.FAILED_PRECONDITION,
    );
    // ... and it never moves content out of the revoked policy (test below).
    t.is(
      (
        await codeOf(
          d.client.rewrap({ tenant: 'demo', envelope, targetPolicyId: 'rewrap-src', purpose: 'PURPOSE_SYSTEM' }),
        )
      ).code,
      grpc.status.FAILED_PRECONDITION,
    );
    await d.client.purge({ tenant: 'demo', id: 'revoked-mailbox', force: true, reason: 'test' });
    t.is(
      (await codeOf(d.client.decrypt({ tenant: 'demo', envelope, purpose: 'PURPOSE_SYSTEM' }))).code,
      grpc.status.FAILED_PRECONDITION,
    );
  },
);

test.serial(
  'nothing moves out of a revoked policy: Rewrap is refused for every purpose, to another policy or to its own newest version',
  async (t) => {
    const envelope = await policy('no-move', 'mailbox');
    await policy('no-move-target', 'mailbox');
    const usesBefore = d.daemon.unwrapper.availabilityKeyUses;
    // Revoked at the provider (the policy itself still active): the availability key would read for a system
    // caller, but a Rewrap is a move, never a read.
    await d.client.evict({ tenant: 'demo', id: 'no-move' });
    failCustomerKeys('revoked');
    try {
      for (const purpose of ['PURPOSE_USER', 'PURPOSE_SYSTEM'] as const) {
        t.is(
          (await codeOf(d.client.rewrap({ tenant: 'demo', envelope, targetPolicyId: 'no-move-target', purpose }))).code,
          grpc.status.FAILED_PRECONDITION,
          `customer keys revoked, ${purpose}`,
        );
      }
    } finally {
      d.provider.fail = undefined;
    }
    // Revoked by the operator.
    await d.client.revoke({ tenant: 'demo', id: 'no-move', reason: 'customer revoked' });
    for (const purpose of ['PURPOSE_USER', 'PURPOSE_SYSTEM'] as const) {
      for (const targetPolicyId of ['no-move-target', '']) {
        t.is(
          (await codeOf(d.client.rewrap({ tenant: 'demo', envelope, targetPolicyId, purpose }))).code,
          grpc.status.FAILED_PRECONDITION,
          `policy revoked, ${purpose}, target ${targetPolicyId || 'itself'}`,
        );
      }
    }
    t.is(d.daemon.unwrapper.availabilityKeyUses, usesBefore, 'the availability key was never used for a move');
    // Reading stays possible for system callers (the Exchange rule): only moving is refused.
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope, purpose: 'PURPOSE_SYSTEM' })).plaintext.toString(),
      'content of no-move',
    );
  },
);

test.serial(
  'files mode: the availability key serves only an explicit operator recovery, which is audited',
  async (t) => {
    const envelope = await policy('files-recovery', 'files');
    await d.client.evict({ tenant: 'demo', id: 'files-recovery' });
    // The customer rolls key A in the vault; the policy must be rewrapped under the new version.
    const { openLocalKeystore } = await import('../src/providers/local-keystore.js');
    await openLocalKeystore(d.config.keystorePath).rotateKey('demo-customer-a');
    failCustomerKeys('unavailable');
    try {
      const refused = await codeOf(d.client.refresh({ tenant: 'demo', id: 'files-recovery' }));
      t.is(
        refused.code,
        grpc.status.UNAVAILABLE,
        'no customer key can unwrap, and without recovery the availability key may not',
      );
      t.is(
        (await codeOf(d.client.refresh({ tenant: 'demo', id: 'files-recovery', recovery: true }))).code,
        grpc.status.INVALID_ARGUMENT,
        'recovery needs a reason',
      );
    } finally {
      d.provider.fail = undefined;
    }
    // Recovery: the old customer-key versions cannot unwrap; the operator moves the policy to the new
    // version of key A through the availability key.
    d.provider.fail = (op, uri) =>
      op === 'unwrap' && /local:demo-customer-[ab]\/1$/.test(uri)
        ? providerError('server_error', uri, 'injected')
        : undefined;
    try {
      const rolled = await d.client.rollKey({
        tenant: 'demo',
        id: 'files-recovery',
        role: 'customer-a',
        recovery: true,
        reason: 'both vaults lost, ticket 42',
      });
      t.is(rolled.customerKeys[0]!.uri, 'local:demo-customer-a/2');
    } finally {
      d.provider.fail = undefined;
    }
    const records = (await auditLines()).filter((r) => r.policyId === 'files-recovery');
    t.true(
      records.some((r) => r.type === 'availability_key.used' && /operator recovery.*ticket 42/.test(String(r.reason))),
    );
    t.true(records.some((r) => r.type === 'policy.rolled'));
    // And the policy now decrypts through the new customer-key version.
    await d.client.evict({ tenant: 'demo', id: 'files-recovery' });
    d.provider.fail = (op, uri) =>
      op === 'unwrap' && uri.endsWith('/1') ? providerError('key_disabled', uri, 'injected') : undefined;
    try {
      t.is((await d.client.decrypt({ tenant: 'demo', envelope })).plaintext.toString(), 'content of files-recovery');
    } finally {
      d.provider.fail = undefined;
    }
  },
);

test.serial('claiming the system purpose without the system role is PERMISSION_DENIED', async (t) => {
  const strict = await startTestDaemon({ callerRoles: 'user', adminSocketRoles: 'admin,user' });
  try {
    const env = (await strict.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }))
      .envelope;
    const err = await codeOf(strict.client.decrypt({ tenant: 'demo', envelope: env, purpose: 'PURPOSE_SYSTEM' }));
    t.is(err.code, grpc.status.PERMISSION_DENIED);
    t.regex(err.details, /lacks the system role/);
    const onAdmin = new UnwrapdClient(strict.daemon.adminAddress, { adminAddress: strict.daemon.adminAddress });
    try {
      t.is(
        (await codeOf(onAdmin.decrypt({ tenant: 'demo', envelope: env, purpose: 'PURPOSE_SYSTEM' }))).code,
        grpc.status.UNIMPLEMENTED,
        'Crypto is not served on the admin listener',
      );
    } finally {
      onAdmin.close();
    }
  } finally {
    await strict.stop();
  }
});
