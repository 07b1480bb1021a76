import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { SecretKey } from '../src/crypto/secret-key.js';
import { createAzureKeyVaultProvider } from '../src/providers/azure-key-vault-provider.js';
import { ProviderError, type ProviderErrorReason } from '../src/providers/provider-error.js';
import type { RootKeyProvider, WrappedKey } from '../src/providers/root-key-provider.js';
import { FakeKeyVault, fakeCredential } from './helpers/fake-key-vault.js';
import { FakeTokenEndpoint, loopbackOnlyAgent, type TokenFault } from './helpers/fake-token-endpoint.js';

/**
 * Identity outages are outages, for managed identity: the Azure provider with the real
 * ManagedIdentityCredential (@azure/identity 4.13.1, MSAL's IMDS source) getting tokens from a local
 * IMDS-compatible endpoint (test/helpers/fake-token-endpoint.ts).
 *
 * MSAL reads the IMDS address only from process.env (AZURE_POD_IDENTITY_AUTHORITY_HOST), and keeps the
 * managed identity source it picked first (with that credential's HTTP client) in static fields for the
 * life of the process. So this file sets the variable for its own process only (ava runs each test file in
 * a child process), restores it afterwards, uses one provider (one credential) and runs serially. Every
 * connection goes through an agent that refuses any address but 127.0.0.1: the real IMDS
 * (169.254.169.254) is never reached, and the test checks that nothing tried.
 */

const MI_ENV = [
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
];
const saved = new Map<string, string | undefined>();

let vault: FakeKeyVault;
let imds: FakeTokenEndpoint;
let agent: ReturnType<typeof loopbackOnlyAgent>;
let provider: RootKeyProvider;
let wrapped: WrappedKey;
let key: SecretKey;

test.before(async () => {
  [vault, imds] = await Promise.all([FakeKeyVault.start(), FakeTokenEndpoint.start()]);
  for (const name of MI_ENV) {
    saved.set(name, process.env[name]);
    delete process.env[name];
  }
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imds.url; // MSAL: `${this}/metadata/identity/oauth2/token`
  agent = loopbackOnlyAgent(imds.ca);
  provider = createAzureKeyVaultProvider({
    credentialKind: 'managed-identity',
    credentialEnv: {},
    agent,
    allowedHostSuffixes: [],
    disableChallengeResourceVerification: true,
    maxRetries: 2,
    retryDelayMs: 10,
    maxRetryDelayMs: 100,
    tryTimeoutMs: 1500,
  });
  const uri = await vault.createKey('mi-key');
  key = SecretKey.copyFrom(randomBytes(32), true);
  const plain = createAzureKeyVaultProvider({
    credential: fakeCredential(),
    tlsCa: vault.ca,
    allowedHostSuffixes: [],
    disableChallengeResourceVerification: true,
    tryTimeoutMs: 10_000,
  });
  wrapped = await plain.wrap(uri, key, { signal: AbortSignal.timeout(20_000) });
});

test.after.always(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  agent?.destroy();
  await Promise.all([vault?.close(), imds?.close()]);
});

async function unwrapSucceeds(t: ExecutionContext): Promise<void> {
  const out = await provider.unwrap(wrapped, { signal: AbortSignal.timeout(20_000) });
  t.true(out.expose().equals(key.expose()));
  out.destroy();
}

test.serial(
  'managed identity through the local IMDS endpoint: the unwrap gets its token there, and nothing else is contacted',
  async (t) => {
    const before = imds.count('imds');
    await unwrapSucceeds(t);
    t.true(imds.count('imds') > before);
    t.deepEqual(agent.refused, []);
  },
);

interface Row {
  title: string;
  fault?: TokenFault;
  refuse?: true;
  reason: ProviderErrorReason;
  boundMs: number;
}

const ROWS: Row[] = [
  {
    title: 'answers 500',
    fault: { type: 'status', status: 500, body: { error: 'server_error', error_description: 'IMDS internal error' } },
    reason: 'server_error',
    boundMs: 5000,
  },
  {
    title: 'answers 503',
    fault: { type: 'status', status: 503, body: { error: 'service_unavailable', error_description: 'IMDS is busy' } },
    reason: 'server_error',
    boundMs: 5000,
  },
  {
    title: 'answers 500 without a body',
    fault: { type: 'status', status: 500, body: '' },
    reason: 'server_error',
    boundMs: 5000,
  },
  { title: 'refuses connections', refuse: true, reason: 'connection_error', boundMs: 5000 },
  { title: 'hangs (no answer until the per-try timeout)', fault: { type: 'hang' }, reason: 'timeout', boundMs: 8000 },
];

for (const row of ROWS) {
  test.serial(
    `managed identity: an IMDS endpoint that ${row.title} is unavailable/${row.reason}, bounded, and the first request after it recovers succeeds`,
    async (t) => {
      if (row.refuse) await imds.refuse();
      else imds.fault({ action: row.fault!, routes: ['imds'] });
      const started = Date.now();
      const err = await t.throwsAsync<ProviderError>(
        provider.unwrap(wrapped, { signal: AbortSignal.timeout(10_000) }),
        { instanceOf: ProviderError },
      );
      const elapsed = Date.now() - started;
      t.is(err?.kind, 'unavailable', err?.message);
      t.is(err?.reason, row.reason, err?.message);
      t.true(elapsed < row.boundMs, `answered in ${elapsed} ms`);
      if (row.refuse) await imds.restore();
      else imds.clearFaults();
      await unwrapSucceeds(t);
      t.deepEqual(agent.refused, [], 'nothing but 127.0.0.1 was contacted (never 169.254.169.254)');
    },
  );
}

test.serial(
  'managed identity: IMDS refusing the identity (400 invalid_request: no such identity) is revoked',
  async (t) => {
    imds.fault({
      action: {
        type: 'status',
        status: 400,
        body: { error: 'invalid_request', error_description: 'Identity not found' },
      },
      routes: ['imds'],
    });
    const err = await t.throwsAsync<ProviderError>(provider.unwrap(wrapped, { signal: AbortSignal.timeout(10_000) }), {
      instanceOf: ProviderError,
    });
    t.is(err?.kind, 'revoked', err?.message);
    imds.clearFaults();
    await unwrapSucceeds(t);
  },
);
