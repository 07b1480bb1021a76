import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { SecretKey } from '../src/crypto/secret-key.js';
import { retryAfterMs } from '../src/providers/azure-pipeline.js';
import { createAzureKeyVaultProvider, type AzureProviderOptions } from '../src/providers/azure-key-vault-provider.js';
import { AZURE_WRAP_ALGORITHM, parseAzureKeyId } from '../src/providers/azure-key-id.js';
import { ProviderError, type ProviderErrorKind, type ProviderErrorReason } from '../src/providers/provider-error.js';
import type { RootKeyProvider, WrappedKey } from '../src/providers/root-key-provider.js';
import {
  FakeKeyVault,
  fakeCredential,
  loopbackAgent,
  type FaultAction,
  type VaultOp,
} from './helpers/fake-key-vault.js';

/**
 * The Azure Key Vault provider through the real @azure/keyvault-keys SDK against the fake vault
 * (test/helpers/fake-key-vault.ts). Timing knobs are small so the fault rows stay fast: 2 retries, retry
 * delays 10..100 ms; per try 3 s (rows about timeouts set their own), so a busy machine does not fail the
 * setup (each row's provider makes its own wrapped copy, so its client is warm: one request per unwrap).
 */

const FAST: AzureProviderOptions = { maxRetries: 2, retryDelayMs: 10, maxRetryDelayMs: 100, tryTimeoutMs: 3000 };

let vault: FakeKeyVault;

test.before(async () => {
  vault = await FakeKeyVault.start();
});

test.after.always(async () => {
  await vault?.close();
});

function providerFor(v: FakeKeyVault, opts: AzureProviderOptions = {}): RootKeyProvider {
  return createAzureKeyVaultProvider({
    credential: fakeCredential(),
    tlsCa: v.ca,
    allowedHostSuffixes: [], // 127.0.0.1
    disableChallengeResourceVerification: true,
    ...FAST,
    ...opts,
  });
}

const signal = (ms = 5000): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(ms) });
const newKey = (): SecretKey => SecretKey.copyFrom(randomBytes(32), true);

async function rejectsWith(
  t: ExecutionContext,
  work: Promise<unknown>,
  kind: ProviderErrorKind,
  reason: ProviderErrorReason,
): Promise<ProviderError | undefined> {
  const err = await t.throwsAsync<ProviderError>(work, { instanceOf: ProviderError });
  t.is(err?.kind, kind, err?.message);
  t.is(err?.reason, reason, err?.message);
  return err;
}

/**
 * At most SETUP_AT_ONCE setups at a time: a setup's first wrap is a cold client (TLS handshake, the 401
 * challenge, then the wrap), and the file's tests all start at once; the rows with a 1 s per-try timeout would
 * otherwise wait behind thirty handshakes on a busy machine.
 */
const SETUP_AT_ONCE = 4;
let setupsRunning = 0;
const setupQueue: Array<() => void> = [];

/** A fresh key in the shared vault, a provider, and one wrapped copy (so tests never share key state). */
async function setup(
  name: string,
  opts: AzureProviderOptions = {},
): Promise<{ provider: RootKeyProvider; uri: string; key: SecretKey; wrapped: WrappedKey }> {
  if (setupsRunning < SETUP_AT_ONCE) setupsRunning++;
  else await new Promise<void>((resolve) => setupQueue.push(resolve)); // a finished setup hands its slot over
  try {
    const uri = await vault.createKey(name);
    const provider = providerFor(vault, opts);
    const key = newKey();
    const wrapped = await provider.wrap(uri, key, signal(20_000));
    return { provider, uri, key, wrapped };
  } finally {
    const next = setupQueue.shift();
    if (next) next();
    else setupsRunning--;
  }
}

// ---- round trips ------------------------------------------------------------------------------------

test('wrap then unwrap through the SDK returns the key; RSA-OAEP-256; one 401 challenge per client', async (t) => {
  const name = 'round-trip';
  await vault.createKey(name);
  const provider = providerFor(vault);
  const resolved = await provider.resolve(vault.keyId(name), signal());
  t.is(resolved.algorithm, AZURE_WRAP_ALGORITHM);
  t.regex(resolved.uri, new RegExp(`^${vault.url}/keys/${name}/[0-9a-f]{32}$`));
  const key = newKey();
  const wrapped = await provider.wrap(resolved.uri, key, signal());
  t.is(wrapped.keyUri, resolved.uri);
  t.is(wrapped.algorithm, 'RSA-OAEP-256');
  t.is(wrapped.ciphertext.length, 256);
  for (let i = 0; i < 3; i++) {
    const out = await provider.unwrap(wrapped, signal());
    t.true(out.expose().equals(key.expose()));
    out.destroy();
  }
  const mine = vault.requests.filter((r) => r.key === name);
  // KeyClient: 401 + GET; CryptographyClient: 401 + GET (the SDK fetches the key once) + wrap; then 3 unwraps.
  t.is(mine.filter((r) => r.status === 401).length, 2);
  t.is(vault.count('wrapkey', name), 1);
  t.is(vault.count('unwrapkey', name), 3);
  t.is(vault.count('get', name), 2);
});

test('an RSA-OAEP (SHA-1) copy made elsewhere unwraps too; an unknown algorithm is unwrap_rejected without a call', async (t) => {
  const { provider, wrapped, key, uri } = await setup('oaep-sha1');
  const name = 'oaep-sha1';
  const client = new KeyClient(vault.url, fakeCredential(), {
    tlsOptions: { ca: vault.ca },
    disableChallengeResourceVerification: true,
  });
  const version = uri.split('/').pop()!;
  const crypto = client.getCryptographyClient(name, { keyVersion: version });
  const sha1 = await crypto.wrapKey('RSA-OAEP', key.expose());
  const out = await provider.unwrap({ keyUri: uri, algorithm: 'RSA-OAEP', ciphertext: sha1.result }, signal());
  t.true(out.expose().equals(key.expose()));
  const before = vault.count('unwrapkey', name);
  await rejectsWith(t, provider.unwrap({ ...wrapped, algorithm: 'RSA1_5' }, signal()), 'revoked', 'unwrap_rejected');
  t.is(vault.count('unwrapkey', name), before);
});

test('vault host names (https://<vault>.vault.azure.net) work with the challenge-resource check on', async (t) => {
  const named = await FakeKeyVault.start({ host: 'contoso-a.vault.azure.net' });
  t.teardown(() => named.close());
  await named.createKey('cust');
  const provider = createAzureKeyVaultProvider({
    credential: fakeCredential(),
    agent: loopbackAgent(named.ca),
    ...FAST,
  });
  const resolved = await provider.resolve(named.keyId('cust'), signal());
  t.true(resolved.uri.startsWith(`https://contoso-a.vault.azure.net:${named.port}/keys/cust/`));
  const key = newKey();
  const out = await provider.unwrap(await provider.wrap(resolved.uri, key, signal()), signal());
  t.true(out.expose().equals(key.expose()));
});

test('key ids on hosts outside the allowed suffixes are key_not_found, with no request', async (t) => {
  const provider = createAzureKeyVaultProvider({ credential: fakeCredential() });
  const before = vault.requests.length;
  await rejectsWith(t, provider.resolve(vault.keyId('anything'), signal()), 'revoked', 'key_not_found');
  await rejectsWith(t, provider.resolve('https://evil.example.com/keys/k', signal()), 'revoked', 'key_not_found');
  t.is(vault.requests.length, before);
  t.deepEqual((await provider.status('https://evil.example.com/keys/k', signal())).reason, 'key_not_found');
});

test('parseAzureKeyId', (t) => {
  t.deepEqual(parseAzureKeyId('https://Contoso.vault.azure.net/keys/cust-a/0123456789abcdef0123456789abcdef'), {
    vaultUrl: 'https://contoso.vault.azure.net',
    name: 'cust-a',
    version: '0123456789abcdef0123456789abcdef',
  });
  t.deepEqual(parseAzureKeyId('https://hsm1.managedhsm.azure.net/keys/k'), {
    vaultUrl: 'https://hsm1.managedhsm.azure.net',
    name: 'k',
  });
  for (const bad of [
    'http://contoso.vault.azure.net/keys/k',
    'https://contoso.vault.azure.net/secrets/k',
    'https://contoso.vault.azure.net/keys/',
    'https://contoso.vault.azure.net/keys/k/v/x',
    'https://contoso.vault.azure.net/keys/k?x=1',
    'https://user@contoso.vault.azure.net/keys/k',
    'https://vault.azure.net/keys/k',
    'https://contoso.vault.azure.net.evil.com/keys/k',
    'https://contoso.vault.azure.net/keys/bad_name',
    'local:k',
  ]) {
    t.is(parseAzureKeyId(bad), undefined, bad);
  }
  t.truthy(parseAzureKeyId('https://127.0.0.1:8443/keys/k/abc', []));
});

// ---- key roll -------------------------------------------------------------------------------------------

test('key roll: the unversioned id resolves to the new version; copies under the old version still unwrap', async (t) => {
  const { provider, uri: v1, key, wrapped } = await setup('rolled');
  const v2 = await vault.createKey('rolled'); // Key Vault: creating an existing name adds a version
  t.not(v1, v2);
  const resolved = await provider.resolve(vault.keyId('rolled'), signal());
  t.is(resolved.uri, v2);
  const rewrapped = await provider.wrap(v2, key, signal());
  t.is(rewrapped.keyUri, v2);
  for (const copy of [wrapped, rewrapped]) {
    const out = await provider.unwrap(copy, signal());
    t.true(out.expose().equals(key.expose()));
  }
  // A copy presented as the other version's is refused by the vault (BadParameter), not silently wrong.
  await rejectsWith(t, provider.unwrap({ ...wrapped, keyUri: v2 }, signal()), 'revoked', 'unwrap_rejected');
  // Disabling the old version leaves the new one working.
  vault.setEnabled('rolled', false, v1.split('/').pop());
  await rejectsWith(t, provider.unwrap(wrapped, signal()), 'revoked', 'key_disabled');
  t.true((await provider.unwrap(rewrapped, signal())).expose().equals(key.expose()));
});

// ---- the fake vault's management API, through the SDK's KeyClient ------------------------------------------

test('the fake vault serves KeyClient create, get, update, versions, delete and getDeletedKey', async (t) => {
  const client = new KeyClient(vault.url, fakeCredential(), {
    tlsOptions: { ca: vault.ca },
    disableChallengeResourceVerification: true,
  });
  const created = await client.createRsaKey('managed', { keySize: 2048, keyOps: ['wrapKey', 'unwrapKey'] });
  t.is(created.keyType, 'RSA');
  t.deepEqual(created.keyOperations, ['wrapKey', 'unwrapKey']);
  const again = await client.createRsaKey('managed', { keySize: 2048 });
  t.not(again.properties.version, created.properties.version);
  t.is((await client.getKey('managed')).id, again.id);
  t.is((await client.getKey('managed', { version: created.properties.version! })).id, created.id);
  const updated = await client.updateKeyProperties('managed', created.properties.version!, { enabled: false });
  t.false(updated.properties.enabled);
  const versions: string[] = [];
  for await (const p of client.listPropertiesOfKeyVersions('managed')) versions.push(p.version!);
  t.deepEqual(new Set(versions), new Set([created.properties.version, again.properties.version]));
  const poller = await client.beginDeleteKey('managed', { intervalInMs: 10 });
  const deleted = await poller.pollUntilDone();
  t.is(deleted.name, 'managed');
  t.truthy(deleted.properties.recoveryId);
  const err = await t.throwsAsync<Error & { statusCode?: number; code?: string }>(client.getKey('managed'));
  t.is(err?.statusCode, 404);
  t.is(err?.code, 'KeyNotFound');
  t.is((await client.getDeletedKey('managed')).name, 'managed');
});

// ---- classification, row by row, against the SDK's real error objects ----------------------------------------

interface Row {
  title: string;
  fault?: FaultAction;
  ops?: VaultOp[];
  arrange?: (name: string, uri: string) => void | Promise<void>;
  kind: ProviderErrorKind;
  reason: ProviderErrorReason;
  /** Unwrap requests the vault saw (first try plus the SDK's retries), when it matters. */
  tries?: number;
  opts?: AzureProviderOptions;
}

const ROWS: Row[] = [
  {
    title: '403 Forbidden (access policy or RBAC removed)',
    arrange: (name) => vault.revokeAccess(name),
    kind: 'revoked',
    reason: 'access_denied',
    tries: 1,
  },
  {
    title: '403 Forbidden / KeyDisabled (key disabled)',
    arrange: (name) => vault.setEnabled(name, false),
    kind: 'revoked',
    reason: 'key_disabled',
    tries: 1,
  },
  {
    title: '403 ForbiddenByFirewall (network rules)',
    fault: {
      type: 'status',
      status: 403,
      code: 'Forbidden',
      innerCode: 'ForbiddenByFirewall',
      message: 'Client address is not authorized and caller is not a trusted service.',
    },
    kind: 'revoked',
    reason: 'access_denied',
    tries: 1,
  },
  {
    title: '404 KeyNotFound (deleted key)',
    arrange: (name) => vault.deleteKey(name),
    kind: 'revoked',
    reason: 'key_not_found',
    tries: 1,
  },
  {
    title: '404 KeyNotFound (injected)',
    fault: { type: 'status', status: 404 },
    kind: 'revoked',
    reason: 'key_not_found',
    tries: 1,
  },
  {
    title: '401 after the challenge (the vault refuses the token)',
    fault: {
      type: 'status',
      status: 401,
      code: 'Unauthorized',
      headers: {
        'WWW-Authenticate':
          'Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"',
      },
    },
    kind: 'revoked',
    reason: 'access_denied',
  },
  {
    title: '400 BadParameter (the key cannot decrypt the copy)',
    arrange: () => undefined,
    kind: 'revoked',
    reason: 'unwrap_rejected',
    tries: 1,
  },
  {
    title: '429 with a short Retry-After: retried, then throttled',
    fault: { type: 'status', status: 429, headers: { 'Retry-After': '0' } },
    kind: 'unavailable',
    reason: 'throttled',
    tries: 3,
  },
  {
    title: '429 without Retry-After: retried with backoff, then throttled',
    fault: { type: 'status', status: 429 },
    kind: 'unavailable',
    reason: 'throttled',
    tries: 3,
  },
  {
    title: '429 with Retry-After beyond the cap: not waited for, throttled at once',
    fault: { type: 'status', status: 429, headers: { 'Retry-After': '30' } },
    kind: 'unavailable',
    reason: 'throttled',
    tries: 1,
  },
  {
    title: '500 InternalServerError: retried, then server_error',
    fault: { type: 'status', status: 500 },
    kind: 'unavailable',
    reason: 'server_error',
    tries: 3,
  },
  {
    title: '503 ServiceUnavailable: retried, then server_error',
    fault: { type: 'status', status: 503 },
    kind: 'unavailable',
    reason: 'server_error',
    tries: 3,
  },
  {
    title: 'connection reset: retried, then connection_error',
    fault: { type: 'reset' },
    kind: 'unavailable',
    reason: 'connection_error',
    tries: 3,
  },
  {
    title: 'hang: each try times out, retried, then timeout',
    fault: { type: 'hang' },
    kind: 'unavailable',
    reason: 'timeout',
    tries: 3,
    opts: { tryTimeoutMs: 1000 },
  },
  {
    title: 'latency beyond the per-try timeout: timeout',
    fault: { type: 'latency', ms: 3000 },
    kind: 'unavailable',
    reason: 'timeout',
    opts: { tryTimeoutMs: 1000, maxRetries: 0 },
    tries: 1,
  },
  {
    title: 'key expired (the SDK refuses before calling the vault)',
    arrange: () => undefined,
    kind: 'revoked',
    reason: 'key_disabled',
    tries: 0,
  },
];

for (const [i, row] of ROWS.entries()) {
  test(`classification: ${row.title} -> ${row.kind}/${row.reason}`, async (t) => {
    const name = `row-${i}`;
    let { provider, uri, wrapped } = await setup(name, row.opts);
    if (row.title.startsWith('400')) wrapped = { ...wrapped, ciphertext: randomBytes(256) };
    if (row.title.startsWith('key expired')) {
      // A new client fetches the key (with its expiry) on its first operation, as the SDK does.
      uri = await vault.createKey(name, { exp: new Date(Date.now() - 60_000) });
      provider = providerFor(vault, row.opts);
      wrapped = { ...wrapped, keyUri: uri };
    }
    await row.arrange?.(name, uri);
    if (row.fault) vault.fault({ key: name, ops: row.ops ?? ['unwrapkey'], action: row.fault });
    const before = vault.requests.filter((r) => r.key === name && r.op === 'unwrapkey').length;
    const started = Date.now();
    const err = await rejectsWith(t, provider.unwrap(wrapped, signal()), row.kind, row.reason);
    t.true(Date.now() - started < 5000, 'bounded');
    t.false(err?.message.includes(Buffer.from(wrapped.ciphertext).toString('base64').slice(0, 16)));
    if (row.tries !== undefined)
      t.is(vault.requests.filter((r) => r.key === name && r.op === 'unwrapkey').length - before, row.tries);
    vault.clearFaults(name);
    vault.restoreAccess(name);
  });
}

test('classification: connection refused (nothing listening) -> unavailable/connection_error', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const provider = providerFor(vault);
  const uri = `https://127.0.0.1:${port}/keys/gone/0123456789abcdef0123456789abcdef`;
  await rejectsWith(
    t,
    provider.unwrap({ keyUri: uri, algorithm: 'RSA-OAEP-256', ciphertext: randomBytes(256) }, signal()),
    'unavailable',
    'connection_error',
  );
});

test('classification: the caller cancels -> unavailable/aborted; the deadline -> unavailable/timeout', async (t) => {
  const { provider, wrapped } = await setup('cancelled');
  vault.fault({ key: 'cancelled', ops: ['unwrapkey'], action: { type: 'hang' } });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('client went away')), 50);
  await rejectsWith(t, provider.unwrap(wrapped, { signal: controller.signal }), 'unavailable', 'aborted');
  await rejectsWith(t, provider.unwrap(wrapped, { signal: AbortSignal.timeout(50) }), 'unavailable', 'timeout');
  vault.clearFaults('cancelled');
});

test('classification: credential failures from @azure/identity', async (t) => {
  const uri = await vault.createKey('cred');
  const wrapped: WrappedKey = { keyUri: uri, algorithm: 'RSA-OAEP-256', ciphertext: randomBytes(256) };
  const failing = (err: Error) => providerFor(vault, { credential: { getToken: () => Promise.reject(err) } });
  await rejectsWith(
    t,
    failing(
      new AuthenticationError(400, {
        error: 'invalid_client',
        error_description: 'AADSTS7000215: Invalid client secret provided.',
      }),
    ).unwrap(wrapped, signal()),
    'revoked',
    'access_denied',
  );
  await rejectsWith(
    t,
    failing(new AuthenticationError(503, { error: 'temporarily_unavailable', error_description: 'try later' })).unwrap(
      wrapped,
      signal(),
    ),
    'unavailable',
    'server_error',
  );
  // A missing setting is no outage: fail closed (the identity tests cover every row: azure-identity.test.ts).
  await rejectsWith(
    t,
    failing(new CredentialUnavailableError('WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE is not set')).unwrap(
      wrapped,
      signal(),
    ),
    'revoked',
    'unknown',
  );
});

// ---- deadlines --------------------------------------------------------------------------------------------

test('a hung vault is answered within the caller deadline, whatever the per-try timeout and retries', async (t) => {
  const { provider, wrapped } = await setup('hung', { tryTimeoutMs: 10_000, maxRetries: 5 });
  vault.fault({ key: 'hung', action: { type: 'hang' } });
  const started = Date.now();
  await rejectsWith(t, provider.unwrap(wrapped, { signal: AbortSignal.timeout(250) }), 'unavailable', 'timeout');
  const elapsed = Date.now() - started;
  t.true(elapsed >= 240 && elapsed < 600, `answered in ${elapsed} ms`);
  // status() under the same deadline also settles (and reports the deadline, not a revocation).
  const s2 = Date.now();
  await rejectsWith(t, provider.status(wrapped.keyUri, { signal: AbortSignal.timeout(150) }), 'unavailable', 'timeout');
  t.true(Date.now() - s2 < 500);
  vault.clearFaults('hung');
});

test('a Retry-After within the cap is honoured, then the call succeeds', async (t) => {
  const { provider, wrapped, key } = await setup('throttled-once', { maxRetryDelayMs: 2000 });
  vault.fault({
    key: 'throttled-once',
    ops: ['unwrapkey'],
    times: 1,
    action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
  });
  const started = Date.now();
  const out = await provider.unwrap(wrapped, signal());
  const elapsed = Date.now() - started;
  t.true(out.expose().equals(key.expose()));
  t.true(elapsed >= 950 && elapsed < 1800, `waited ${elapsed} ms`);
});

test('a 429 without Retry-After is retried with exponential backoff: twice throttled, then the unwrap succeeds on the 3rd try', async (t) => {
  const { provider, wrapped, key } = await setup('throttled-bare', {
    maxRetries: 2,
    retryDelayMs: 20,
    maxRetryDelayMs: 200,
  });
  vault.fault({ key: 'throttled-bare', ops: ['unwrapkey'], times: 2, action: { type: 'status', status: 429 } });
  const out = await provider.unwrap(wrapped, signal());
  t.true(out.expose().equals(key.expose()));
  t.is(vault.count('unwrapkey', 'throttled-bare'), 3);
});

test('a vault answering 429 without Retry-After forever is unavailable within the caller deadline', async (t) => {
  // Retries enough to outlast the deadline: the deadline, not the retry count, ends the call.
  const { provider, wrapped } = await setup('throttled-forever', {
    maxRetries: 10,
    retryDelayMs: 50,
    maxRetryDelayMs: 400,
  });
  vault.fault({ key: 'throttled-forever', ops: ['unwrapkey'], action: { type: 'status', status: 429 } });
  const deadlineMs = 1500;
  const started = Date.now();
  const err = await t.throwsAsync<ProviderError>(
    provider.unwrap(wrapped, { signal: AbortSignal.timeout(deadlineMs) }),
    { instanceOf: ProviderError },
  );
  const elapsed = Date.now() - started;
  t.is(err?.kind, 'unavailable', err?.message);
  t.true(elapsed < deadlineMs * 2, `answered in ${elapsed} ms`);
  // Without a deadline in the way, the bounded retries end it as throttled.
  const bounded = await setup('throttled-bounded', { maxRetries: 2, retryDelayMs: 10, maxRetryDelayMs: 50 });
  vault.fault({ key: 'throttled-bounded', ops: ['unwrapkey'], action: { type: 'status', status: 429 } });
  await rejectsWith(t, bounded.provider.unwrap(bounded.wrapped, signal()), 'unavailable', 'throttled');
  t.is(vault.count('unwrapkey', 'throttled-bounded'), 3);
  vault.clearFaults('throttled-forever');
  vault.clearFaults('throttled-bounded');
});

test('a transient 500 and a reset are retried transparently', async (t) => {
  const { provider, wrapped, key } = await setup('flaky');
  vault.fault({ key: 'flaky', ops: ['unwrapkey'], times: 1, action: { type: 'status', status: 500 } });
  vault.fault({ key: 'flaky', ops: ['unwrapkey'], times: 1, action: { type: 'reset' } });
  t.true((await provider.unwrap(wrapped, signal())).expose().equals(key.expose()));
  t.is(vault.count('unwrapkey', 'flaky'), 3);
});

test('retryAfterMs reads the headers as the SDK does', (t) => {
  const h = (o: Record<string, string>) => (name: string) => o[name];
  t.is(retryAfterMs(h({ 'retry-after': '3' })), 3000);
  t.is(retryAfterMs(h({ 'retry-after-ms': '40', 'retry-after': '3' })), 40);
  t.is(retryAfterMs(h({ 'x-ms-retry-after-ms': '7' })), 7);
  t.true((retryAfterMs(h({ 'retry-after': new Date(Date.now() + 10_000).toUTCString() })) ?? 0) > 8000);
  t.is(retryAfterMs(h({})), undefined);
});

// ---- status ------------------------------------------------------------------------------------------------

test('status: usable, disabled, access removed, deleted, missing, unavailable', async (t) => {
  const provider = providerFor(vault);
  const names = ['st-ok', 'st-disabled', 'st-denied', 'st-deleted', 'st-down'];
  const uris = await Promise.all(names.map((n) => vault.createKey(n)));
  vault.setEnabled('st-disabled', false);
  vault.revokeAccess('st-denied');
  vault.deleteKey('st-deleted');
  vault.fault({ key: 'st-down', action: { type: 'status', status: 503 } });
  const results = await Promise.all(uris.map((u) => provider.status(u, signal())));
  t.deepEqual(
    results.map((r) => [r.usable, r.kind, r.reason]),
    [
      [true, undefined, undefined],
      [false, 'revoked', 'key_disabled'],
      [false, 'revoked', 'access_denied'],
      [false, 'revoked', 'key_deleted'],
      [false, 'unavailable', 'server_error'],
    ],
  );
  t.is((await provider.status(vault.keyId('never-existed'), signal())).reason, 'key_not_found');
  vault.clearFaults('st-down');
  vault.restoreAccess('st-denied');
});

test('wrap needs a pinned version; resolve of a disabled key is refused', async (t) => {
  const provider = providerFor(vault);
  await vault.createKey('unpinned');
  await rejectsWith(t, provider.wrap(vault.keyId('unpinned'), newKey(), signal()), 'revoked', 'key_not_found');
  vault.setEnabled('unpinned', false);
  await rejectsWith(t, provider.resolve(vault.keyId('unpinned'), signal()), 'revoked', 'key_disabled');
});

test('createKey makes a policy its own key in the operator vault; destroyKey deletes and purges it, and a retry confirms it is gone', async (t) => {
  // Its own vault, which generates 2048-bit keys when asked for 3072 (speed on a busy machine).
  const vault = await FakeKeyVault.start({ maxCreateBits: 2048 });
  t.teardown(() => vault.close());
  const provider = providerFor(vault, { ...FAST, tryTimeoutMs: 30_000 });
  const created = await provider.createKey!(`${vault.url}/keys/`, 'contoso.mailbox-1', {
    signal: AbortSignal.timeout(60_000),
  });
  const name = /\/keys\/(av-contoso-mailbox-1-[0-9a-f]{12})\/[0-9a-f]+$/.exec(created.uri)?.[1];
  t.truthy(name, created.uri);
  t.is(vault.keyState(name!), 'active');
  const ik = SecretKey.copyFrom(randomBytes(32));
  const wrapped = await provider.wrap(created.uri, ik, { signal: AbortSignal.timeout(30_000) });
  const back = await provider.unwrap(wrapped, { signal: AbortSignal.timeout(30_000) });
  t.true(back.expose().equals(ik.expose()));
  back.destroy();

  // A purge failure (purge protection) is an error, never a confirmation; the key stays recoverable and a retry finishes.
  vault.fault({
    action: {
      type: 'status',
      status: 403,
      message: 'Operation purge is not allowed because purge protection is enabled',
    },
    ops: ['purgeDeleted'],
    key: name!,
    times: 1,
  });
  const refused = await t.throwsAsync<ProviderError>(
    provider.destroyKey!(created.uri, { signal: AbortSignal.timeout(60_000) }),
    { instanceOf: ProviderError },
  );
  t.regex(refused!.message, /refused to purge/);
  t.is(vault.keyState(name!), 'deleted');

  const confirmation = await provider.destroyKey!(created.uri, { signal: AbortSignal.timeout(60_000) });
  t.is(confirmation.provider, 'azure-key-vault');
  t.is(confirmation.keyUri, `${vault.url}/keys/${name!}`);
  t.false(confirmation.alreadyDestroyed);
  t.regex(confirmation.action, /purged from the vault/);
  t.is(vault.keyState(name!), 'absent', 'purged: not even a deleted key is left');
  t.is(vault.count('purgeDeleted', name!), 2);
  await rejectsWithReason(t, provider.unwrap(wrapped, { signal: AbortSignal.timeout(30_000) }), 'key_not_found');
  t.true((await provider.destroyKey!(created.uri, { signal: AbortSignal.timeout(60_000) })).alreadyDestroyed);
  ik.destroy();
});

async function rejectsWithReason(
  t: ExecutionContext,
  work: Promise<unknown>,
  reason: ProviderErrorReason,
): Promise<void> {
  const err = await t.throwsAsync<ProviderError>(work, { instanceOf: ProviderError });
  t.is(err?.reason, reason, err?.message);
}
