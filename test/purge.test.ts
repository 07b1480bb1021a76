import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { providerError } from '../src/providers/provider-error.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const run = promisify(execFile);
const CLI = new URL('../bin/unwrapd.js', import.meta.url).pathname;

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

async function purgePolicy(id: string, availabilityKey = '') {
  await d.client.createPolicy({
    tenant: 'demo',
    id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: 'local:purge-a',
    customerKeyB: 'local:purge-b',
    availabilityKey,
  });
  return (await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.from(`data of ${id}`) })).envelope;
}

/** The keystore's state of the policy's availability key (`enabled`, `deleted`...). */
async function availabilityKeyState(id: string): Promise<string> {
  const uri = (await d.client.getPolicy('demo', id)).availabilityKey!.uri;
  const name = /^local:([^/]+)/.exec(uri)![1]!;
  return (await openLocalKeystore(d.config.keystorePath).get(name)).state;
}

test.serial('Purge is refused unless the policy is revoked', async (t) => {
  await purgePolicy('p-active');
  const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-active', force: true, reason: 'x' }));
  t.is(err.code, grpc.status.FAILED_PRECONDITION);
  t.regex(err.details, /revoke it before purging/);
});

test.serial(
  'Purge is refused while the provider still reaches a customer key, unless forced with a reason',
  async (t) => {
    await purgePolicy('p-reachable');
    await d.client.revoke({ tenant: 'demo', id: 'p-reachable' });
    const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-reachable' }));
    t.is(err.code, grpc.status.FAILED_PRECONDITION);
    t.regex(err.details, /still accessible/);
    t.is(
      (await codeOf(d.client.purge({ tenant: 'demo', id: 'p-reachable', force: true }))).code,
      grpc.status.INVALID_ARGUMENT,
      'force needs a reason',
    );
    const receipt = await d.client.purge({
      tenant: 'demo',
      id: 'p-reachable',
      force: true,
      reason: 'legal hold released, ticket 7',
    });
    t.true(receipt.forced);
    const audit = (await readFile(d.config.auditLogPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const record = audit.find((r) => r.type === 'policy.purged' && r.policyId === 'p-reachable')!;
    t.is(record.reason, 'legal hold released, ticket 7');
    t.is(record.hash, receipt.auditRecordHash);
  },
);

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
  const stored = (
    JSON.parse(file) as { policies: Array<{ id: string; state: string; versions: Array<{ copies: unknown[] }> }> }
  ).policies.find((p) => p.id === 'p-revoked')!;
  t.is(stored.state, 'purged');
  t.true(stored.versions.every((v) => v.copies.length === 0));

  await ks.setEnabled('purge-a', true);
  await ks.setEnabled('purge-b', true);
  for (const purpose of ['PURPOSE_USER', 'PURPOSE_SYSTEM'] as const) {
    t.is((await codeOf(d.client.decrypt({ tenant: 'demo', envelope, purpose }))).code, grpc.status.FAILED_PRECONDITION);
  }
  const shown = await d.client.getPolicy('demo', 'p-revoked');
  t.is(shown.state, 'POLICY_STATE_PURGED');
  const again = await d.client.purge({ tenant: 'demo', id: 'p-revoked' });
  t.is(again.copiesDestroyed, 0, 'purged once: a second Purge is OK and destroys nothing');
  t.is(
    (
      await codeOf(
        d.client.createPolicy({
          tenant: 'demo',
          id: 'p-revoked',
          customerKeyA: 'local:purge-a',
          customerKeyB: 'local:purge-b',
          availabilityKey: '',
        }),
      )
    ).code,
    grpc.status.ALREADY_EXISTS,
    'the tombstone keeps the id',
  );
});

test.serial(
  'the purge-check asks the provider about every customer key version still wrapping something',
  async (t) => {
    await purgePolicy('p-unavailable');
    await d.client.revoke({ tenant: 'demo', id: 'p-unavailable' });
    const { providerError } = await import('../src/providers/provider-error.js');
    d.provider.fail = (op, uri) =>
      op === 'status' && uri.startsWith('local:purge-') ? providerError('timeout', uri, 'injected') : undefined;
    try {
      const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-unavailable' }));
      t.is(err.code, grpc.status.FAILED_PRECONDITION);
      t.regex(err.details, /unavailable .* not revoked/);
    } finally {
      d.provider.fail = undefined;
    }
  },
);

test.serial(
  'a provider failure while destroying the availability key leaves the policy revoked, not purged; a retry finishes',
  async (t) => {
    await purgePolicy('p-destroy-fails');
    await d.client.revoke({ tenant: 'demo', id: 'p-destroy-fails' });
    d.provider.fail = (op, uri) =>
      op === 'destroyKey' ? providerError('server_error', uri, 'injected: keystore write failed') : undefined;
    try {
      const err = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-destroy-fails', force: true, reason: 'test' }));
      t.is(err.code, grpc.status.UNAVAILABLE);
      t.regex(err.details, /could not be destroyed .* stays revoked, not purged/);
    } finally {
      d.provider.fail = undefined;
    }
    const after = await d.client.getPolicy('demo', 'p-destroy-fails');
    t.is(after.state, 'POLICY_STATE_REVOKED', 'no purge is reported while the key exists');
    t.true(after.versions.every((v) => v.copies.length === 3));
    t.is(await availabilityKeyState('p-destroy-fails'), 'enabled');
    const audit = await readFile(d.config.auditLogPath, 'utf8');
    t.false(audit.split('\n').some((l) => l.includes('"policy.purged"') && l.includes('p-destroy-fails')));

    const receipt = await d.client.purge({ tenant: 'demo', id: 'p-destroy-fails', force: true, reason: 'test' });
    t.false(receipt.keyDestructions[0]!.alreadyDestroyed);
    t.is(await availabilityKeyState('p-destroy-fails'), 'deleted');
  },
);

test.serial(
  'a purge interrupted after the key was destroyed (before the tombstone) finishes on retry, confirming the key is gone',
  async (t) => {
    await purgePolicy('p-interrupted');
    await d.client.revoke({ tenant: 'demo', id: 'p-interrupted' });
    const uri = (await d.client.getPolicy('demo', 'p-interrupted')).availabilityKey!.uri;
    // What an interrupted purge leaves: the key destroyed, the registry still saying revoked.
    await d.daemon.provider.destroyKey!(uri, { signal: AbortSignal.timeout(10_000) });
    t.is((await d.client.getPolicy('demo', 'p-interrupted')).state, 'POLICY_STATE_REVOKED');
    const receipt = await d.client.purge({ tenant: 'demo', id: 'p-interrupted', force: true, reason: 'test' });
    t.true(receipt.keyDestructions[0]!.alreadyDestroyed);
    t.regex(receipt.keyDestructions[0]!.action, /already deleted/);
    t.is((await d.client.getPolicy('demo', 'p-interrupted')).state, 'POLICY_STATE_PURGED');
  },
);

test.serial('an availability key another policy uses is refused at creation and as a roll target', async (t) => {
  const ks = openLocalKeystore(d.config.keystorePath);
  await ks.createKey('named-availability');
  await purgePolicy('p-named', 'local:named-availability');
  t.is(
    (await d.client.getPolicy('demo', 'p-named')).availabilityKey!.uri,
    'local:named-availability/1',
    'a named key nobody else uses is accepted',
  );
  const err = await codeOf(
    d.client.createPolicy({
      tenant: 'demo',
      id: 'p-named-2',
      customerKeyA: 'local:purge-a',
      customerKeyB: 'local:purge-b',
      availabilityKey: 'local:named-availability',
    }),
  );
  t.is(err.code, grpc.status.FAILED_PRECONDITION);
  t.regex(err.details, /already used by demo\/p-named: each policy needs its own availability key/);
  await purgePolicy('p-other');
  const roll = await codeOf(
    d.client.rollKey({ tenant: 'demo', id: 'p-other', role: 'availability', newKeyUri: 'local:named-availability' }),
  );
  t.is(roll.code, grpc.status.FAILED_PRECONDITION);
  t.regex(roll.details, /already used by demo\/p-named/);
  // A key base creates a key there.
  const based = await d.client.createPolicy({
    tenant: 'demo',
    id: 'p-based',
    customerKeyA: 'local:purge-a',
    customerKeyB: 'local:purge-b',
    availabilityKey: 'local:',
  });
  t.regex(based.availabilityKey!.uri, /^local:av-demo\.p-based-[0-9a-f]{12}\/1$/);
});

test.serial(
  'policies sharing an availability key (from before per-policy keys): purge is refused until migrate-availability gives each its own',
  async (t) => {
    const ks = openLocalKeystore(d.config.keystorePath);
    await ks.createKey('legacy-shared');
    const one = await purgePolicy('p-legacy-1', 'local:legacy-shared');
    // Another policy on the same key, as an older unwrapd made them: written straight to the registry.
    const base = d.daemon.registry.get('demo', 'p-legacy-1')!;
    await d.daemon.registry.create({ ...base, id: 'p-legacy-2', name: 'p-legacy-2', revision: 1 });
    const two = (await d.client.encrypt({ tenant: 'demo', policyId: 'p-legacy-2', plaintext: Buffer.from('two') }))
      .envelope;

    await d.client.revoke({ tenant: 'demo', id: 'p-legacy-2' });
    const refused = await codeOf(d.client.purge({ tenant: 'demo', id: 'p-legacy-2', force: true, reason: 'test' }));
    t.is(refused.code, grpc.status.FAILED_PRECONDITION);
    t.regex(refused.details, /local:legacy-shared is shared with demo\/p-legacy-1: .*migrate-availability/);
    t.is((await ks.get('legacy-shared')).state, 'enabled', 'the shared key was not touched');

    // The revoked one cannot be rolled; migrate the active one, which leaves the old key to p-legacy-2 alone.
    const out = (
      await run('node', [CLI, 'policy', 'migrate-availability', '--tenant', 'demo', '--address', d.daemon.address])
    ).stdout;
    t.regex(
      out,
      /demo\/p-legacy-1: availability key local:legacy-shared\/1 -> local:av-demo\.p-legacy-1-[0-9a-f]{12}\/1/,
    );
    const migrated = await d.client.getPolicy('demo', 'p-legacy-1');
    t.regex(migrated.availabilityKey!.uri, /^local:av-demo\.p-legacy-1-/);
    t.true(
      migrated.versions.every(
        (v) => v.copies.find((c) => c.role === 'availability')!.keyUri === migrated.availabilityKey!.uri,
      ),
      'every version rewrapped',
    );
    t.is((await d.client.decrypt({ tenant: 'demo', envelope: one })).plaintext.toString(), 'data of p-legacy-1');

    const receipt = await d.client.purge({ tenant: 'demo', id: 'p-legacy-2', force: true, reason: 'test' });
    t.is(receipt.keyDestructions[0]!.keyUri, 'local:legacy-shared');
    t.is((await ks.get('legacy-shared')).state, 'deleted');
    t.is(
      (await codeOf(d.client.decrypt({ tenant: 'demo', envelope: two, purpose: 'PURPOSE_SYSTEM' }))).code,
      grpc.status.FAILED_PRECONDITION,
    );
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope: one })).plaintext.toString(),
      'data of p-legacy-1',
      'the migrated policy is untouched',
    );
  },
);

test.serial('the demo policy has an availability key of its own, shown by GetPolicy', async (t) => {
  const demo = await d.client.getPolicy('demo', 'demo-mailbox');
  t.regex(demo.availabilityKey!.uri, /^local:av-demo\.demo-mailbox-[0-9a-f]{12}\/1$/);
  t.true(
    demo.versions.every((v) => v.copies.find((c) => c.role === 'availability')!.keyUri === demo.availabilityKey!.uri),
  );
});

test.serial('a key created for a policy that then fails to be created is destroyed again', async (t) => {
  d.provider.fail = (op, uri) =>
    op === 'wrap' && uri.startsWith('local:av-demo.p-wrap-fails-')
      ? providerError('server_error', uri, 'injected')
      : undefined;
  try {
    const err = await codeOf(
      d.client.createPolicy({
        tenant: 'demo',
        id: 'p-wrap-fails',
        customerKeyA: 'local:purge-a',
        customerKeyB: 'local:purge-b',
      }),
    );
    t.is(err.code, grpc.status.UNAVAILABLE);
  } finally {
    d.provider.fail = undefined;
  }
  const leftovers = (await openLocalKeystore(d.config.keystorePath).list()).filter((k) =>
    k.name.startsWith('av-demo.p-wrap-fails-'),
  );
  t.is(leftovers.length, 1);
  t.true(leftovers[0]!.deleted, 'no live key is left behind');
});

test.serial(
  'revoked policies still on a shared key do not block the purge: they lose their availability-key reads now',
  async (t) => {
    const ks = openLocalKeystore(d.config.keystorePath);
    await ks.createKey('legacy-revoked');
    await purgePolicy('p-lr-1', 'local:legacy-revoked');
    const base = d.daemon.registry.get('demo', 'p-lr-1')!;
    await d.daemon.registry.create({ ...base, id: 'p-lr-2', name: 'p-lr-2', revision: 1 });
    const envelope2 = (await d.client.encrypt({ tenant: 'demo', policyId: 'p-lr-2', plaintext: Buffer.from('two') }))
      .envelope;
    await d.client.revoke({ tenant: 'demo', id: 'p-lr-1' });
    await d.client.revoke({ tenant: 'demo', id: 'p-lr-2' });
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope: envelope2, purpose: 'PURPOSE_SYSTEM' })).plaintext.toString(),
      'two',
    );
    const receipt = await d.client.purge({ tenant: 'demo', id: 'p-lr-1', force: true, reason: 'test' });
    t.is(receipt.keyDestructions[0]!.keyUri, 'local:legacy-revoked');
    t.is(
      (await codeOf(d.client.decrypt({ tenant: 'demo', envelope: envelope2, purpose: 'PURPOSE_SYSTEM' }))).code,
      grpc.status.FAILED_PRECONDITION,
    );
    t.true(
      (await d.client.purge({ tenant: 'demo', id: 'p-lr-2', force: true, reason: 'test' })).keyDestructions[0]!
        .alreadyDestroyed,
    );
  },
);
