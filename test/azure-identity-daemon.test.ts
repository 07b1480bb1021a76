import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { createAzureKeyVaultProvider } from '../src/providers/azure-key-vault-provider.js';
import { FakeKeyVault } from './helpers/fake-key-vault.js';
import { FakeTokenEndpoint, loopbackOnlyAgent, type TokenFault } from './helpers/fake-token-endpoint.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * An outage of the identity service is an outage, not a revocation, end to end: a real daemon whose
 * mailbox policies have customer keys in two fake Key Vaults, reached through the real SDK with a real
 * ClientSecretCredential that gets its tokens from a local Entra-compatible endpoint
 * (test/helpers/fake-token-endpoint.ts; tokens expire at once, so every vault call needs a new one).
 * When that endpoint fails, cached keys stay cached (the probe does not evict), and a cold Decrypt is
 * served by the availability key (audited); when it recovers, the next cold Decrypt goes through the
 * customer keys again. When Entra ID refuses the credential (invalid_client), that is a revocation.
 *
 * Serial: the tests share the token endpoint and read daemon-wide counters.
 */

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'; // what the fake vaults' challenge names
const PROVIDER_TIMEOUT_MS = 8000;

let vaultA: FakeKeyVault;
let vaultB: FakeKeyVault;
let entra: FakeTokenEndpoint;
let agent: ReturnType<typeof loopbackOnlyAgent>;
let td: TestDaemon;

test.before(async () => {
  [vaultA, vaultB, entra] = await Promise.all([FakeKeyVault.start(), FakeKeyVault.start(), FakeTokenEndpoint.start()]);
  agent = loopbackOnlyAgent(entra.ca); // one test CA for the vaults and the token endpoint
  const azure = createAzureKeyVaultProvider({
    credentialKind: 'client-secret',
    credentialEnv: {
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
      AZURE_CLIENT_SECRET: 'the-current-secret',
      AZURE_AUTHORITY_HOST: entra.url,
    },
    disableInstanceDiscovery: true,
    agent,
    allowedHostSuffixes: [],
    disableChallengeResourceVerification: true,
    maxRetries: 1,
    retryDelayMs: 10,
    maxRetryDelayMs: 50,
    tryTimeoutMs: 2000,
  });
  td = await startTestDaemon(
    { probeIntervalMs: 0, hedgeDelayMs: 50, providerTimeoutMs: PROVIDER_TIMEOUT_MS },
    { extraProviders: [azure] },
  );
  // Warm-up (not under test): the first use loads MSAL and does its OpenID discovery, which a busy machine
  // can push past the provider timeout; a second try then finds it done.
  for (let attempt = 1; ; attempt++) {
    try {
      await azurePolicy('id-warm-up');
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
});

test.after.always(async () => {
  await td?.stop();
  agent?.destroy();
  await Promise.all([vaultA?.close(), vaultB?.close(), entra?.close()]);
});

async function azurePolicy(id: string): Promise<void> {
  await Promise.all([vaultA.createKey(`${id}-a`), vaultB.createKey(`${id}-b`)]); // again: a new version, as in Key Vault
  await td.client.createPolicy({
    tenant: 'contoso',
    id,
    name: id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: vaultA.keyId(`${id}-a`),
    customerKeyB: vaultB.keyId(`${id}-b`),
    availabilityKey: '',
  });
}

async function encrypt(id: string, text: string): Promise<Buffer> {
  return (
    await td.client.encrypt({
      tenant: 'contoso',
      policyId: id,
      plaintext: Buffer.from(text),
      context: { mailbox: 'alice' },
    })
  ).envelope;
}

async function decrypt(envelope: Buffer): Promise<string> {
  const res = await td.client.decrypt(
    { tenant: 'contoso', envelope, context: { mailbox: 'alice' } },
    { deadlineMs: 20_000 },
  );
  return Buffer.from(res.plaintext).toString();
}

const uses = async (): Promise<number> => Number((await td.client.getStatus()).availabilityKeyUses);
const cachedFor = async (id: string): Promise<number> =>
  (await td.client.getStatus()).cachedKeys.filter((k) => k.policyId === id).length;

async function availabilityRecords(id: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(td.config.auditLogPath, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.type === 'availability_key.used' && r.policyId === id);
}

interface Outage {
  title: string;
  fault?: TokenFault;
  refuse?: true;
}

const OUTAGES: Outage[] = [
  { title: 'answers 500', fault: { type: 'status', status: 500 } },
  { title: 'answers 503', fault: { type: 'status', status: 503 } },
  { title: 'refuses connections', refuse: true },
  { title: 'hangs', fault: { type: 'hang' } },
];

async function startOutage(o: Outage): Promise<void> {
  if (o.refuse) await entra.refuse();
  else entra.fault({ action: o.fault!, routes: ['discovery', 'token'] });
}

async function endOutage(o: Outage): Promise<void> {
  if (o.refuse) await entra.restore();
  else entra.clearFaults();
}

for (const [i, outage] of OUTAGES.entries()) {
  test.serial(
    `mailbox: a token endpoint that ${outage.title} is an outage: cached keys stay, a cold Decrypt is served by the availability key (audited), and the first Decrypt after recovery uses the customer keys`,
    async (t: ExecutionContext) => {
      const id = `id-outage-${i}`;
      await azurePolicy(id);
      const envelope = await encrypt(id, `through an identity outage ${i}`);
      t.is(await cachedFor(id), 1);

      await startOutage(outage);
      try {
        // The probe asks the vaults about the cached policy: no token, so no answer; not a revocation.
        const round = await td.daemon.probe.runOnce();
        t.deepEqual(round.revoked, [], 'the outage revoked nothing');
        t.is(await cachedFor(id), 1, 'the cache is not evicted by the outage');
        t.is(await decrypt(envelope), `through an identity outage ${i}`);

        // Cold: both customer keys are unavailable (no token), so the availability key serves, audited first.
        await td.client.evict({ tenant: 'contoso', id });
        const before = await uses();
        const started = Date.now();
        t.is(await decrypt(envelope), `through an identity outage ${i}`);
        const elapsed = Date.now() - started;
        t.is(await uses(), before + 1);
        t.true(elapsed < PROVIDER_TIMEOUT_MS * 3, `answered in ${elapsed} ms`);
        const records = await availabilityRecords(id);
        t.is(records.length, 1);
        t.regex(String(records[0]!.reason), /customer keys unavailable/);
      } finally {
        await endOutage(outage);
      }

      // Recovered: the first cold Decrypt goes through the customer keys (no availability-key use).
      await td.client.evict({ tenant: 'contoso', id });
      const before = await uses();
      t.is(await decrypt(envelope), `through an identity outage ${i}`);
      t.is(await uses(), before);
      t.deepEqual(agent.refused, [], 'nothing but 127.0.0.1 was contacted');
    },
  );
}

test.serial(
  'mailbox: Entra ID refusing the credential (invalid_client) is a revocation: FAILED_PRECONDITION, no availability key',
  async (t) => {
    const id = 'id-refused';
    await azurePolicy(id);
    const envelope = await encrypt(id, 'refused');
    await td.client.evict({ tenant: 'contoso', id });
    entra.fault({
      action: {
        type: 'status',
        status: 401,
        body: {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret provided.',
          error_codes: [7000215],
        },
      },
      routes: ['token'],
    });
    try {
      const before = await uses();
      t.is((await codeOf(decrypt(envelope))).code, grpc.status.FAILED_PRECONDITION);
      t.is(await uses(), before);
      t.deepEqual(await availabilityRecords(id), []);
    } finally {
      entra.clearFaults();
    }
  },
);
