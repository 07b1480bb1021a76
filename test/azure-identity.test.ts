import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AggregateAuthenticationError,
  AuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from '@azure/identity';
import { SecretKey } from '../src/crypto/secret-key.js';
import { classifyIdentityFailure, redact } from '../src/providers/azure-identity-errors.js';
import type { TokenExchange } from '../src/providers/azure-identity-transport.js';
import { createAzureKeyVaultProvider, type AzureProviderOptions } from '../src/providers/azure-key-vault-provider.js';
import { ProviderError, type ProviderErrorKind, type ProviderErrorReason } from '../src/providers/provider-error.js';
import type { WrappedKey } from '../src/providers/root-key-provider.js';
import { FakeKeyVault, fakeCredential } from './helpers/fake-key-vault.js';
import { FakeTokenEndpoint, loopbackOnlyAgent, type TokenFault } from './helpers/fake-token-endpoint.js';

/**
 * Identity outages are outages: the Azure provider with the real @azure/identity 4.13.1 credentials
 * (ClientSecretCredential; WorkloadIdentityCredential with a federated token file) getting tokens from a
 * local Entra-compatible endpoint (test/helpers/fake-token-endpoint.ts), for the fake Key Vault. Every
 * connection goes through an agent that refuses any address but 127.0.0.1 (so MSAL's instance discovery
 * at login.microsoftonline.com, or IMDS at 169.254.169.254, would fail the test instead of leaving the
 * machine). Managed identity (IMDS) is in azure-managed-identity.test.ts: MSAL keeps its source in
 * process-wide statics. Each test has its own token endpoint; the tests that make keys and calls run
 * serially all the same, so that a busy machine does not push them past their deadlines.
 */

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'; // the fake vault's challenge names this tenant
const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
const REVOKED_SECRET = 'an-old-secret';

let vault: FakeKeyVault;
let dir: string;

test.before(async () => {
  vault = await FakeKeyVault.start();
  dir = mkdtempSync(join(tmpdir(), 'uwd-identity-'));
  // A federated token (what the workload identity webhook projects into the pod): any JWT-shaped string.
  writeFileSync(
    join(dir, 'federated-token'),
    'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dW53cmFwZCJ9.c2lnbmF0dXJl',
  );
});

test.after.always(async () => {
  await vault?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Kind = 'client-secret' | 'workload-identity';
const KINDS: Kind[] = ['client-secret', 'workload-identity'];

interface Setup {
  endpoint: FakeTokenEndpoint;
  agent: ReturnType<typeof loopbackOnlyAgent>;
  provider: ReturnType<typeof createAzureKeyVaultProvider>;
  wrapped: WrappedKey;
  key: SecretKey;
}

/** A key in the vault, a copy wrapped under it (with a plain credential), and a provider whose credential uses `endpoint`. */
async function setup(
  t: ExecutionContext,
  name: string,
  kind: Kind,
  opts: AzureProviderOptions & { secret?: string } = {},
): Promise<Setup> {
  const endpoint = await FakeTokenEndpoint.start({ revokedSecret: REVOKED_SECRET });
  const agent = loopbackOnlyAgent(endpoint.ca);
  t.teardown(async () => {
    await endpoint.close();
    agent.destroy();
  });
  const uri = await vault.createKey(name);
  const key = SecretKey.copyFrom(randomBytes(32), true);
  const plain = createAzureKeyVaultProvider({
    credential: fakeCredential(),
    tlsCa: vault.ca,
    allowedHostSuffixes: [],
    disableChallengeResourceVerification: true,
    tryTimeoutMs: 10_000,
  });
  const wrapped = await plain.wrap(uri, key, { signal: AbortSignal.timeout(20_000) });
  const env: NodeJS.ProcessEnv = {
    AZURE_TENANT_ID: TENANT,
    AZURE_CLIENT_ID: CLIENT_ID,
    AZURE_AUTHORITY_HOST: endpoint.url,
  };
  if (kind === 'client-secret') env.AZURE_CLIENT_SECRET = opts.secret ?? 'the-current-secret';
  else env.AZURE_FEDERATED_TOKEN_FILE = join(dir, 'federated-token');
  const provider = createAzureKeyVaultProvider({
    credentialKind: kind,
    credentialEnv: env,
    disableInstanceDiscovery: true,
    agent,
    allowedHostSuffixes: [],
    disableChallengeResourceVerification: true,
    maxRetries: 2,
    retryDelayMs: 10,
    maxRetryDelayMs: 100,
    tryTimeoutMs: 5000,
    ...opts,
  });
  return { endpoint, agent, provider, wrapped, key };
}

async function unwrapFails(
  t: ExecutionContext,
  s: Setup,
  kind: ProviderErrorKind,
  reason: ProviderErrorReason,
  deadlineMs = 10_000,
): Promise<{ err?: ProviderError; elapsed: number }> {
  const started = Date.now();
  const err = await t.throwsAsync<ProviderError>(
    s.provider.unwrap(s.wrapped, { signal: AbortSignal.timeout(deadlineMs) }),
    { instanceOf: ProviderError },
  );
  const elapsed = Date.now() - started;
  t.is(err?.kind, kind, err?.message);
  t.is(err?.reason, reason, err?.message);
  return { ...(err ? { err } : {}), elapsed };
}

async function unwrapSucceeds(t: ExecutionContext, s: Setup): Promise<void> {
  const out = await s.provider.unwrap(s.wrapped, { signal: AbortSignal.timeout(20_000) });
  t.true(out.expose().equals(s.key.expose()));
  out.destroy();
}

// ---- outages of the token endpoint, through the real credentials ----------------------------------------

interface OutageRow {
  title: string;
  fault?: TokenFault;
  refuse?: true;
  reason: ProviderErrorReason;
  opts?: AzureProviderOptions;
  /** Most ms the failing call may take (default 5 s). */
  boundMs?: number;
  /** Down before the first token (MSAL's OpenID discovery fails too); default: after a first unwrap. */
  cold?: true;
}

const OUTAGES: OutageRow[] = [
  { title: 'answers 500', fault: { type: 'status', status: 500 }, reason: 'server_error' },
  { title: 'answers 503 temporarily_unavailable', fault: { type: 'status', status: 503 }, reason: 'server_error' },
  {
    title: 'answers 500 with an HTML page',
    fault: { type: 'status', status: 502, body: '<html>Bad Gateway</html>' },
    reason: 'server_error',
  },
  { title: 'refuses connections', refuse: true, reason: 'connection_error' },
  {
    title: 'answers 503 from the start (OpenID discovery fails too)',
    fault: { type: 'status', status: 503 },
    reason: 'server_error',
    cold: true,
  },
  { title: 'refuses connections from the start', refuse: true, reason: 'connection_error', cold: true },
  // 3 tries of 1.5 s each, then the per-try timeout ends it (the deadline is 10 s).
  {
    title: 'hangs (no answer until the per-try timeout)',
    fault: { type: 'hang' },
    reason: 'timeout',
    opts: { tryTimeoutMs: 1500 },
    boundMs: 8000,
  },
];

for (const kind of KINDS) {
  for (const [i, row] of OUTAGES.entries()) {
    test.serial(
      `${kind}: a token endpoint that ${row.title} is unavailable/${row.reason}, bounded, and the first request after it recovers succeeds`,
      async (t) => {
        const s = await setup(t, `outage-${kind}-${i}`, kind, row.opts);
        // Warm: MSAL has done its OpenID discovery, so the outage meets the token request itself, whose 5xx/429
        // answers MSAL would put in its 60 s throttling cache.
        if (!row.cold) await unwrapSucceeds(t, s);
        if (row.refuse) await s.endpoint.refuse();
        else s.endpoint.fault({ action: row.fault!, routes: ['discovery', 'token'] });
        const { err, elapsed } = await unwrapFails(t, s, 'unavailable', row.reason);
        // Bounded: 3 tries (each at most tryTimeoutMs) and short delays, inside the 10 s deadline.
        t.true(elapsed < (row.boundMs ?? 5000), `answered in ${elapsed} ms`);
        t.false(err?.message.includes('the-current-secret'), 'no secret in the error');
        t.false(err?.message.includes('eyJ'), 'no token or assertion in the error');
        if (row.refuse) await s.endpoint.restore();
        else s.endpoint.clearFaults();
        // The first request after recovery succeeds (MSAL's 60 s throttling cache never saw the outage).
        await unwrapSucceeds(t, s);
        t.deepEqual(s.agent.refused, [], 'no connection to anything but 127.0.0.1');
      },
    );
  }
}

test.serial(
  'a hung token endpoint never holds the caller past its deadline, whatever the per-try timeout',
  async (t) => {
    const s = await setup(t, 'outage-deadline', 'client-secret', { tryTimeoutMs: 30_000, maxRetries: 5 });
    s.endpoint.fault({ action: { type: 'hang' }, routes: ['discovery', 'token'] });
    const deadlineMs = 400;
    const { elapsed } = await unwrapFails(t, s, 'unavailable', 'timeout', deadlineMs);
    t.true(elapsed < deadlineMs * 3, `answered in ${elapsed} ms`);
  },
);

test.serial(
  'client-secret: invalid_client (AADSTS7000215, a wrong or expired secret) is revoked/access_denied, with its cause in the message',
  async (t) => {
    const s = await setup(t, 'invalid-client', 'client-secret', { secret: REVOKED_SECRET });
    const { err } = await unwrapFails(t, s, 'revoked', 'access_denied');
    t.regex(err?.message ?? '', /invalid_client/);
    t.regex(err?.message ?? '', /7000215/);
    t.false(err?.message.includes(REVOKED_SECRET), 'the secret is not in the message');
    t.is(s.endpoint.count('token'), 1, 'a refusal is not retried');
  },
);

test.serial(
  'a token endpoint answering 429 without Retry-After twice is retried with backoff; the unwrap succeeds on the 3rd token request',
  async (t) => {
    const s = await setup(t, 'token-429', 'client-secret');
    s.endpoint.fault({ action: { type: 'status', status: 429 }, routes: ['token'], times: 2 });
    await unwrapSucceeds(t, s);
    // (Tokens expire in 1 s here, so the unwrap after the key GET asks for another: 200 again.)
    t.deepEqual(
      s.endpoint.requests
        .filter((r) => r.route === 'token')
        .map((r) => r.status)
        .slice(0, 3),
      [429, 429, 200],
    );
  },
);

test.serial('a token endpoint answering 429 forever is unavailable/throttled after the bounded retries', async (t) => {
  const s = await setup(t, 'token-429-forever', 'client-secret');
  s.endpoint.fault({ action: { type: 'status', status: 429 }, routes: ['token'] });
  await unwrapFails(t, s, 'unavailable', 'throttled');
  t.is(s.endpoint.count('token'), 3);
});

// ---- the classification table, row by row, with the library's own error classes -----------------------------

const aadsts = (status: number, error: string, code: number, text: string) =>
  new AuthenticationError(status, { error, error_description: `AADSTS${code}: ${text}`, error_codes: [code] } as never);
const msalError = (name: string, errorCode: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${errorCode}: details`), { name, errorCode, ...extra });
const wire = (...xs: Array<Partial<TokenExchange>>): TokenExchange[] =>
  xs.map((x) => ({ request: 'POST https://127.0.0.1/t/oauth2/v2.0/token', ...x }));
const required = (message: string) =>
  new AuthenticationRequiredError({ scopes: ['https://vault.azure.net/.default'], message });

interface ClassRow {
  title: string;
  error: unknown;
  exchanges?: TokenExchange[];
  reason: ProviderErrorReason;
}

const CLASS_ROWS: ClassRow[] = [
  // Entra ID says no: revoked.
  {
    title: 'invalid_client AADSTS7000215 (invalid secret)',
    error: aadsts(401, 'invalid_client', 7000215, 'Invalid client secret provided.'),
    reason: 'access_denied',
  },
  {
    title: 'invalid_client AADSTS7000222 (secret expired)',
    error: aadsts(401, 'invalid_client', 7000222, 'The provided client secret keys are expired.'),
    reason: 'access_denied',
  },
  {
    title: 'unauthorized_client AADSTS700016 (application not found)',
    error: aadsts(
      400,
      'unauthorized_client',
      700016,
      "Application with identifier 'x' was not found in the directory.",
    ),
    reason: 'access_denied',
  },
  {
    title: 'invalid_grant AADSTS7000112 (application disabled)',
    error: aadsts(400, 'invalid_grant', 7000112, 'Application is disabled.'),
    reason: 'access_denied',
  },
  {
    title: 'invalid_grant AADSTS65001 (consent)',
    error: aadsts(400, 'invalid_grant', 65001, 'The user or administrator has not consented.'),
    reason: 'access_denied',
  },
  {
    title: 'invalid_client on the wire, whatever the library made of it',
    error: required('network_error: see aka.ms'),
    exchanges: wire({ status: 401, oauthError: 'invalid_client', errorCodes: [7000215] }),
    reason: 'access_denied',
  },
  {
    title: 'an AADSTS refusal code only in an MSAL message',
    error: required('invalid_grant: Error(s): 7000112 - Description: AADSTS7000112: Application is disabled.'),
    reason: 'access_denied',
  },
  {
    title: 'another 4xx from Entra ID',
    error: new AuthenticationError(400, {
      error: 'invalid_request',
      error_description: 'AADSTS900144: missing parameter',
    }),
    reason: 'access_denied',
  },
  // The identity service is out: unavailable.
  {
    title: 'AuthenticationError 503 temporarily_unavailable',
    error: new AuthenticationError(503, {
      error: 'temporarily_unavailable',
      error_description: 'AADSTS90033: A transient error has occurred.',
    }),
    reason: 'server_error',
  },
  {
    title: 'temporarily_unavailable even with a 400',
    error: new AuthenticationError(400, { error: 'temporarily_unavailable', error_description: 'try again' }),
    reason: 'server_error',
  },
  {
    title: 'AuthenticationError 500 with a non-JSON body',
    error: new AuthenticationError(500, '<html>oops</html>'),
    reason: 'server_error',
  },
  { title: 'AuthenticationError 429', error: new AuthenticationError(429, '{}'), reason: 'throttled' },
  { title: 'AuthenticationError 408', error: new AuthenticationError(408, '{}'), reason: 'timeout' },
  {
    title: 'wire 503 behind AuthenticationRequiredError(network_error)',
    error: required('network_error: see aka.ms'),
    exchanges: wire({ status: 503 }),
    reason: 'server_error',
  },
  {
    title: 'wire 429 behind AuthenticationRequiredError(network_error)',
    error: required('network_error: see aka.ms'),
    exchanges: wire({ status: 429 }),
    reason: 'throttled',
  },
  {
    title: 'wire ECONNREFUSED',
    error: required('network_error: see aka.ms'),
    exchanges: wire({ code: 'ECONNREFUSED' }),
    reason: 'connection_error',
  },
  {
    title: 'wire ECONNRESET then ETIMEDOUT (the last failure counts)',
    error: required('network_error'),
    exchanges: wire({ code: 'ECONNRESET' }, { code: 'ETIMEDOUT' }),
    reason: 'timeout',
  },
  {
    title: 'wire ENOTFOUND on discovery (endpoints_resolution_error)',
    error: new CredentialUnavailableError('endpoints_resolution_error: Endpoints cannot be resolved'),
    exchanges: wire({ request: 'GET https://login/t/v2.0/.well-known/openid-configuration', code: 'ENOTFOUND' }),
    reason: 'connection_error',
  },
  {
    title: 'managed identity: network unreachable (MSAL network_error in the cause)',
    error: new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable.', {
      cause: msalError('ClientAuthError', 'network_error'),
    }),
    reason: 'connection_error',
  },
  {
    title: 'managed identity: MSAL ServerError with status 500 in the cause',
    error: new CredentialUnavailableError('ManagedIdentityCredential: Authentication failed.', {
      cause: msalError('ServerError', 'server_error', { status: 500 }),
    }),
    reason: 'server_error',
  },
  {
    title: 'a network error code in the chain (socket hang up)',
    error: new CredentialUnavailableError('x', {
      cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    }),
    reason: 'connection_error',
  },
  {
    title: 'an AbortError in the chain',
    error: Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }),
    reason: 'timeout',
  },
  {
    title: 'DefaultAzureCredential: not configured + managed identity unreachable',
    error: new AggregateAuthenticationError(
      [
        new CredentialUnavailableError('EnvironmentCredential is unavailable.'),
        new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable.', {
          cause: msalError('ClientAuthError', 'network_error'),
        }),
      ],
      'ChainedTokenCredential authentication failed.',
    ),
    reason: 'connection_error',
  },
  {
    title: 'a refusal wins over an outage in the same chain (fail closed)',
    error: new AggregateAuthenticationError(
      [aadsts(401, 'invalid_client', 7000215, 'Invalid client secret provided.'), new AuthenticationError(503, '{}')],
      'failed',
    ),
    reason: 'access_denied',
  },
  // Anything else: revoked (unknown), cause kept.
  {
    title: 'CredentialUnavailableError for a missing setting',
    error: new CredentialUnavailableError('WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE is not set'),
    reason: 'unknown',
  },
  { title: 'AuthenticationRequiredError "No response"', error: required('No response'), reason: 'unknown' },
  { title: 'a plain Error', error: new Error('something odd'), reason: 'unknown' },
  {
    title: 'a 200 without a token on the wire, then an odd error',
    error: new Error('Response had no "accessToken" property.'),
    exchanges: wire({ status: 200 }),
    reason: 'unknown',
  },
];

for (const row of CLASS_ROWS) {
  test(`identity classification: ${row.title} -> ${row.reason}`, (t) => {
    const [reason, detail] = classifyIdentityFailure(row.error, row.exchanges);
    t.is(reason, row.reason, detail);
    t.true(detail.length > 0 && detail.length <= 1200);
  });
}

test('identity failures are logged redacted: no secret, assertion or token in the detail', (t) => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
  const err = new CredentialUnavailableError(
    `odd answer: {"access_token":"${jwt}"} client_secret=hunter2&client_assertion=${jwt} Authorization: Bearer abc.def.ghi`,
  );
  const [reason, detail] = classifyIdentityFailure(err);
  t.is(reason, 'unknown');
  for (const leak of ['hunter2', jwt, 'abc.def.ghi', 'eyJ'])
    t.false(detail.includes(leak), `${leak} leaked: ${detail}`);
  t.regex(detail, /odd answer/);
  t.is(redact('password: p4ss; secret=s3cret'), 'password: [redacted]; secret=[redacted]');
});

test.serial(
  'an identity outage while a token is held never ends the process: the SDK background refresh gets the held token, no unhandled rejection',
  async (t) => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    t.teardown(() => void process.off('unhandledRejection', onRejection));
    let up = true;
    let calls = 0;
    let expiresOn = 0;
    const inner = {
      async getToken() {
        calls++;
        if (!up)
          throw new AuthenticationError(503, {
            error: 'temporarily_unavailable',
            error_description: 'AADSTS90033: A transient error has occurred.',
          });
        expiresOn = Date.now() + 5000; // inside the SDK's 2-minute refresh window: every use starts a background refresh
        return { token: 'test-token', expiresOnTimestamp: expiresOn };
      },
    };
    const uri = await vault.createKey('held-token');
    const provider = createAzureKeyVaultProvider({
      credential: inner,
      tlsCa: vault.ca,
      allowedHostSuffixes: [],
      disableChallengeResourceVerification: true,
      tryTimeoutMs: 10_000,
    });
    const key = SecretKey.copyFrom(randomBytes(32), true);
    const wrapped = await provider.wrap(uri, key, { signal: AbortSignal.timeout(20_000) });
    up = false;
    const before = calls;
    const out = await provider.unwrap(wrapped, { signal: AbortSignal.timeout(20_000) }); // the held token serves; a background refresh fails
    t.true(out.expose().equals(key.expose()));
    t.true(calls > before, 'the SDK tried to refresh in the background');
    // The unfixed path: the SDK retries every 3 s until the token expires, then rejects with nobody awaiting.
    while (Date.now() < expiresOn + 3500) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setImmediate(r));
    t.deepEqual(rejections, []);
    // A caller that needs a fresh token (the held one expired) gets the classified outage.
    const err = await t.throwsAsync<ProviderError>(provider.unwrap(wrapped, { signal: AbortSignal.timeout(20_000) }), {
      instanceOf: ProviderError,
    });
    t.is(err?.kind, 'unavailable', err?.message);
  },
);
