import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { checkKey } from '../src/cli/commands/keys-check.js';
import { createAzureKeyVaultProvider } from '../src/providers/azure-key-vault-provider.js';
import { FakeKeyVault, fakeCredential } from './helpers/fake-key-vault.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * A real daemon whose customer keys live in two fake Key Vaults (two HTTPS servers, so each can fail on
 * its own), reached through the real SDK; the availability key is the local keystore's. The daemon's
 * built-in `https` provider is replaced by one that trusts the test CA (extraProviders).
 *
 * Serial: the tests read daemon-wide counters (availability-key uses) and break vaults on purpose.
 */

let vaultA: FakeKeyVault;
let vaultB: FakeKeyVault;
let td: TestDaemon;

const azure = () =>
  createAzureKeyVaultProvider({
    credential: fakeCredential(),
    tlsCa: testCaOf(vaultA),
    allowedHostSuffixes: [],
    disableChallengeResourceVerification: true,
    maxRetries: 1,
    retryDelayMs: 10,
    maxRetryDelayMs: 50,
    tryTimeoutMs: 2000,
  });

/** Both vaults share the throwaway CA (test/helpers/test-ca.ts). */
function testCaOf(v: FakeKeyVault): string {
  return v.ca;
}

test.before(async () => {
  [vaultA, vaultB] = await Promise.all([FakeKeyVault.start(), FakeKeyVault.start()]);
  td = await startTestDaemon(
    { probeIntervalMs: 0, hedgeDelayMs: 50, providerTimeoutMs: 1500 },
    { extraProviders: [azure()] },
  );
});

test.after.always(async () => {
  await td?.stop();
  await Promise.all([vaultA?.close(), vaultB?.close()]);
});

/** A mailbox policy whose customer keys are fresh keys in vault A and vault B. */
async function azurePolicy(id: string): Promise<{ keyA: string; keyB: string }> {
  await Promise.all([vaultA.createKey(`${id}-a`), vaultB.createKey(`${id}-b`)]);
  const policy = await td.client.createPolicy({
    tenant: 'contoso',
    id,
    name: id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: vaultA.keyId(`${id}-a`), // unversioned: pinned at creation
    customerKeyB: vaultB.keyId(`${id}-b`),
    availabilityKey: '',
  });
  const uris = JSON.stringify(policy);
  if (!uris.includes(vaultA.url) || !uris.includes(vaultB.url)) throw new Error('policy does not name the vault keys');
  return { keyA: `${id}-a`, keyB: `${id}-b` };
}

async function encrypt(id: string, text = 'hello'): Promise<Buffer> {
  const res = await td.client.encrypt({
    tenant: 'contoso',
    policyId: id,
    plaintext: Buffer.from(text),
    context: { mailbox: 'alice' },
  });
  return res.envelope;
}

async function decrypt(envelope: Buffer, deadlineMs?: number): Promise<string> {
  const res = await td.client.decrypt(
    { tenant: 'contoso', envelope, context: { mailbox: 'alice' } },
    deadlineMs ? { deadlineMs } : undefined,
  );
  return Buffer.from(res.plaintext).toString();
}

const uses = async (): Promise<number> => Number((await td.client.getStatus()).availabilityKeyUses);
const cachedFor = async (id: string): Promise<number> =>
  (await td.client.getStatus()).cachedKeys.filter((k) => k.policyId === id).length;

test.serial('policy create pins Key Vault key ids; Encrypt/Decrypt unwrap through the vaults', async (t) => {
  await azurePolicy('kv-basic');
  const policy = await td.client.getPolicy('contoso', 'kv-basic');
  const text = JSON.stringify(policy);
  t.regex(text, new RegExp(`${vaultA.url.replace(/[.]/g, '\\.')}/keys/kv-basic-a/[0-9a-f]{32}`));
  const envelope = await encrypt('kv-basic');
  t.is(await decrypt(envelope), 'hello');
  t.is(vaultA.count('unwrapkey', 'kv-basic-a') + vaultB.count('unwrapkey', 'kv-basic-b') >= 1, true);
  t.is(await uses(), 0);
});

test.serial('mailbox: the availability key is used when both vaults are down (all unavailable)', async (t) => {
  const { keyA, keyB } = await azurePolicy('kv-down');
  const envelope = await encrypt('kv-down', 'through an outage');
  await td.client.evict({ tenant: 'contoso', id: 'kv-down' });
  vaultA.fault({ key: keyA, ops: ['unwrapkey'], action: { type: 'status', status: 503 } });
  vaultB.fault({ key: keyB, ops: ['unwrapkey'], action: { type: 'reset' } });
  const before = await uses();
  t.is(await decrypt(envelope), 'through an outage');
  t.is(await uses(), before + 1);
  // Both vaults were asked (and retried) before the fallback.
  t.true(vaultA.count('unwrapkey', keyA) >= 1);
  t.true(vaultB.count('unwrapkey', keyB) >= 1);
  vaultA.clearFaults(keyA);
  vaultB.clearFaults(keyB);
});

test.serial(
  'mailbox: the availability key is NOT used when access is removed (revoked): FAILED_PRECONDITION',
  async (t) => {
    const { keyA, keyB } = await azurePolicy('kv-revoked');
    const envelope = await encrypt('kv-revoked');
    await td.client.evict({ tenant: 'contoso', id: 'kv-revoked' });
    vaultA.revokeAccess(keyA);
    vaultB.revokeAccess(keyB);
    const before = await uses();
    const err = await codeOf(decrypt(envelope));
    t.is(err.code, grpc.status.FAILED_PRECONDITION);
    t.is(await uses(), before);
    // One vault down and the other revoked is still a revocation: fail closed.
    vaultA.restoreAccess(keyA);
    vaultA.fault({ key: keyA, ops: ['unwrapkey'], action: { type: 'status', status: 500 } });
    t.is((await codeOf(decrypt(envelope))).code, grpc.status.FAILED_PRECONDITION);
    t.is(await uses(), before);
    vaultA.clearFaults(keyA);
    vaultB.restoreAccess(keyB);
  },
);

test.serial('a hung vault never holds a caller past its deadline', async (t) => {
  const { keyA, keyB } = await azurePolicy('kv-hung');
  const envelope = await encrypt('kv-hung');
  await td.client.evict({ tenant: 'contoso', id: 'kv-hung' });
  vaultA.fault({ key: keyA, ops: ['unwrapkey'], action: { type: 'hang' } });
  vaultB.fault({ key: keyB, ops: ['unwrapkey'], action: { type: 'hang' } });
  const started = Date.now();
  const err = await codeOf(decrypt(envelope, 400));
  const elapsed = Date.now() - started;
  t.is(err.code, grpc.status.DEADLINE_EXCEEDED);
  t.true(elapsed < 900, `answered after ${elapsed} ms`);
  // The shared load gives up at providerTimeoutMs (1.5 s) and then (mailbox, all unavailable) the
  // availability key serves the next caller.
  t.is(await decrypt(envelope, 5000), 'hello');
  vaultA.clearFaults(keyA);
  vaultB.clearFaults(keyB);
});

test.serial('the probe evicts a policy whose vault access is removed; the next request fails closed', async (t) => {
  const { keyA, keyB } = await azurePolicy('kv-probed');
  await azurePolicy('kv-untouched');
  await encrypt('kv-probed');
  await encrypt('kv-untouched');
  t.is(await cachedFor('kv-probed'), 1);
  let round = await td.daemon.probe.runOnce();
  t.deepEqual(round.revoked, []);
  vaultA.revokeAccess(keyA);
  vaultB.revokeAccess(keyB);
  round = await td.daemon.probe.runOnce();
  t.deepEqual(round.revoked.map((e) => e.policyId).sort(), ['kv-probed', 'kv-probed']);
  t.is(await cachedFor('kv-probed'), 0);
  t.is(await cachedFor('kv-untouched'), 1);
  t.is((await codeOf(encrypt('kv-probed'))).code, grpc.status.FAILED_PRECONDITION);
  const feed = (await td.client.getStatus()).feeds.find((f) => f.source === 'provider-probe');
  t.truthy(feed);
  vaultA.restoreAccess(keyA);
  vaultB.restoreAccess(keyB);
});

test.serial('keys check: usable, then why not (disabled, access removed, missing), through the SDK', async (t) => {
  const provider = azure();
  const uri = await vaultA.createKey('checked');
  const ok = await checkKey(provider, vaultA.keyId('checked'), 3000);
  t.true(ok.usable);
  t.is(ok.pinnedUri, uri);
  t.deepEqual(
    ok.steps.map((s) => [s.step, s.ok]),
    [
      ['resolve', true],
      ['status', true],
      ['wrap', true],
      ['unwrap', true],
      ['compare', true],
    ],
  );
  t.false(JSON.stringify(ok).includes('"key"'));
  vaultA.setEnabled('checked', false);
  const disabled = await checkKey(provider, uri, 3000);
  t.false(disabled.usable);
  t.is(disabled.steps.at(-1)?.reason, 'key_disabled');
  vaultA.setEnabled('checked', true);
  vaultA.revokeAccess('checked');
  const denied = await checkKey(provider, uri, 3000);
  t.is(denied.steps.at(-1)?.reason, 'access_denied');
  t.regex(denied.hint ?? '', /wrapKey/);
  vaultA.restoreAccess('checked');
  t.is((await checkKey(provider, vaultA.keyId('no-such-key'), 3000)).steps.at(-1)?.reason, 'key_not_found');
});
