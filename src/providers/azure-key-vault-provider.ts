import type { Agent } from 'node:https';
import type { TokenCredential } from '@azure/identity';
import type {
  CryptographyClient,
  CryptographyClientOptions,
  KeyClient,
  KeyClientOptions,
  KeyVaultKey,
} from '@azure/keyvault-keys';
import { SecretKey } from '../crypto/secret-key.js';
import { classifyingCredential, createAzureCredential, type AzureCredentialKind } from './azure-credential.js';
import { abortReason, classifyAzureError } from './azure-errors.js';
import { createAzureKey, destroyAzureKey, type AzureCalls } from './azure-key-admin.js';
import {
  AZURE_SCHEME,
  AZURE_UNWRAP_ALGORITHMS,
  AZURE_VAULT_HOST_SUFFIXES,
  AZURE_WRAP_ALGORITHM,
  formatAzureKeyId,
  parseAzureKeyId,
  VERSION_PATTERN,
  type AzureKeyRef,
} from './azure-key-id.js';
import { perTryTimeoutPolicy, retryAfterPolicy } from './azure-pipeline.js';
import { isProviderError, providerError, type ProviderError } from './provider-error.js';
import type {
  CallOptions,
  DestructionConfirmation,
  KeyStatus,
  ResolvedKey,
  RootKeyProvider,
  WrappedKey,
} from './root-key-provider.js';
import { raceAbort } from '../race-abort.js';

/**
 * The Azure Key Vault root-key provider (scheme `https`), through the real SDKs: `@azure/keyvault-keys`
 * (CryptographyClient for wrapKey/unwrapKey, KeyClient for key status) and `@azure/identity`.
 *
 * Key URIs are Key Vault key ids: `https://<vault>.vault.azure.net/keys/<name>/<version>` (or a managed
 * HSM's `https://<hsm>.managedhsm.azure.net/keys/...`). `resolve` pins a key id without a version to the
 * current version. Wrapping is RSA-OAEP-256 (always done by the vault: the SDK only wraps locally for
 * RSA-OAEP and RSA1_5); unwrap accepts RSA-OAEP-256 and RSA-OAEP copies.
 *
 * Clients are created lazily and cached: one KeyClient per vault, one CryptographyClient per pinned key
 * (bounded; the oldest is dropped first). Each new client's first request gets the vault's 401 challenge
 * and a CryptographyClient's first operation also GETs the key (the SDK checks the key's enabled dates and
 * permitted operations locally), so a cold client costs three round trips and a warm one costs one.
 *
 * Deadlines: every call takes the caller's AbortSignal (its deadline, at most `providerTimeoutMs`) and
 * settles as soon as it aborts, even if the SDK or the credential does not. Within it, each HTTP try has
 * `tryTimeoutMs`, retries are at most `maxRetries` (exponential from `retryDelayMs`, capped at
 * `maxRetryDelayMs`), a Retry-After longer than `maxRetryDelayMs` is not waited for, and a 429 without
 * Retry-After is retried with exponential backoff (azure-pipeline.ts). The credential's token requests get
 * the same bounds (azure-identity-transport.ts).
 *
 * Identity: the credential is wrapped so that a failed token request is classified by its cause
 * (azure-identity-errors.ts): an outage of the identity service is `unavailable`, not a revocation.
 *
 * Host names: only key ids on hosts ending in one of `allowedHostSuffixes` are served (default: the
 * public and sovereign Key Vault and managed HSM domains); any other https URI is `key_not_found`. With the
 * SDK's challenge-resource check on (the default), a token is only ever sent to a host inside the domain
 * the vault's challenge names, so a policy cannot be pointed at a server that harvests tokens.
 *
 * Availability keys of their own (createKey, destroyKey): src/providers/azure-key-admin.ts. Key ids:
 * src/providers/azure-key-id.ts.
 *
 * Errors are classified by src/providers/azure-errors.ts.
 */
export interface AzureProviderOptions {
  /** A credential object; without it one is made on first use from `credentialKind`. */
  credential?: TokenCredential;
  /** Default 'default' (DefaultAzureCredential). */
  credentialKind?: AzureCredentialKind;
  /** Where the credential made from `credentialKind` reads its settings (default process.env). */
  credentialEnv?: NodeJS.ProcessEnv;
  /** Skip Entra instance discovery (authority hosts that are not Entra clouds: tests on 127.0.0.1). */
  disableInstanceDiscovery?: boolean;
  /** Retries after the first try (default 2). */
  maxRetries?: number;
  /** First retry delay (default 200 ms), doubled each retry with jitter. */
  retryDelayMs?: number;
  /** Cap on one retry delay, and on the Retry-After we honour (default 2000 ms). */
  maxRetryDelayMs?: number;
  /** Time for one HTTP try (default 5000 ms). */
  tryTimeoutMs?: number;
  /** Hosts served (suffix match on the key id's host name); empty = any host (tests only). */
  allowedHostSuffixes?: readonly string[];
  /** Most SDK clients kept (default 1024). */
  maxClients?: number;
  /** Extra CA certificates to trust (PEM), e.g. a test CA (vault and identity requests). */
  tlsCa?: string;
  /** An https.Agent for every vault and identity request (tests map vault host names to 127.0.0.1 with one). */
  agent?: Agent;
  /** Turns off the SDK's check that the challenge's resource matches the vault host (tests on 127.0.0.1 only). */
  disableChallengeResourceVerification?: boolean;
}

type KeyVaultSdk = typeof import('@azure/keyvault-keys');

export function createAzureKeyVaultProvider(opts: AzureProviderOptions = {}): RootKeyProvider {
  const maxRetries = opts.maxRetries ?? 2;
  const retryDelayMs = opts.retryDelayMs ?? 200;
  const maxRetryDelayMs = opts.maxRetryDelayMs ?? 2000;
  const tryTimeoutMs = opts.tryTimeoutMs ?? 5000;
  const allowedHosts = opts.allowedHostSuffixes ?? AZURE_VAULT_HOST_SUFFIXES;
  const maxClients = opts.maxClients ?? 1024;
  let sdk: Promise<KeyVaultSdk> | undefined;
  let credential: Promise<TokenCredential> | undefined;
  const keyClients = new Map<string, KeyClient>();
  const cryptoClients = new Map<string, CryptographyClient>();
  let closed = false;

  function clientOptions(): KeyClientOptions & CryptographyClientOptions {
    return {
      retryOptions: { maxRetries, retryDelayInMs: retryDelayMs, maxRetryDelayInMs: maxRetryDelayMs },
      additionalPolicies: [
        { policy: retryAfterPolicy({ retryDelayMs, maxRetryDelayMs }), position: 'perRetry' },
        { policy: perTryTimeoutPolicy(tryTimeoutMs), position: 'perRetry' },
      ],
      userAgentOptions: { userAgentPrefix: 'unwrapd' },
      ...(opts.disableChallengeResourceVerification ? { disableChallengeResourceVerification: true } : {}),
      ...(opts.tlsCa ? { tlsOptions: { ca: opts.tlsCa } } : {}),
      ...(opts.agent ? { agent: opts.agent } : {}),
    };
  }

  async function deps(): Promise<{ sdk: KeyVaultSdk; credential: TokenCredential }> {
    sdk ??= import('@azure/keyvault-keys');
    credential ??= (
      opts.credential
        ? Promise.resolve(opts.credential)
        : createAzureCredential(opts.credentialKind ?? 'default', opts.credentialEnv ?? process.env, {
            maxRetries,
            retryDelayMs,
            maxRetryDelayMs,
            tryTimeoutMs,
            ...(opts.tlsCa ? { tlsCa: opts.tlsCa } : {}),
            ...(opts.agent ? { agent: opts.agent } : {}),
            ...(opts.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
          })
    ).then(classifyingCredential);
    try {
      return { sdk: await sdk, credential: await credential };
    } catch (err) {
      credential = undefined; // a credential that failed to build (missing env) is retried next time
      throw err;
    }
  }

  function remember<T>(map: Map<string, T>, key: string, make: () => T): T {
    let client = map.get(key);
    if (!client) {
      client = make();
      map.set(key, client);
      if (map.size > maxClients) map.delete(map.keys().next().value as string);
    }
    return client;
  }

  async function keyClient(ref: AzureKeyRef): Promise<KeyClient> {
    const d = await deps();
    return remember(keyClients, ref.vaultUrl, () => new d.sdk.KeyClient(ref.vaultUrl, d.credential, clientOptions()));
  }

  async function cryptoClient(ref: AzureKeyRef): Promise<CryptographyClient> {
    const d = await deps();
    const id = formatAzureKeyId(ref);
    return remember(cryptoClients, id, () => new d.sdk.CryptographyClient(id, d.credential, clientOptions()));
  }

  function parse(keyUri: string, needVersion: boolean): AzureKeyRef {
    if (closed) throw providerError('server_error', keyUri, `${keyUri}: the Azure Key Vault provider is closed`);
    const ref = parseAzureKeyId(keyUri, allowedHosts);
    if (!ref) {
      const hosts = allowedHosts.length > 0 ? ` on a host ending in ${allowedHosts.join(', ')}` : '';
      throw providerError(
        'key_not_found',
        keyUri,
        `${keyUri}: not a Key Vault key id (expected https://<vault>.vault.azure.net/keys/<name>[/<version>]${hosts})`,
      );
    }
    if (needVersion && ref.version === undefined)
      throw providerError('key_not_found', keyUri, `${keyUri}: the key id must name a version`);
    return ref;
  }

  /** Runs one SDK operation under the caller's signal; settles when the signal aborts; classifies failures. */
  async function call<T>(
    keyUri: string,
    signal: AbortSignal,
    op: (abortSignal: AbortSignal) => Promise<T>,
    onLate?: (value: T) => void,
  ): Promise<T> {
    if (signal.aborted) throw aborted(keyUri, signal);
    try {
      return await raceAbort(op(signal), signal, () => aborted(keyUri, signal), onLate);
    } catch (err) {
      if (isProviderError(err)) throw err;
      throw classifyAzureError(err, keyUri, signal);
    }
  }

  async function getKey(ref: AzureKeyRef, keyUri: string, signal: AbortSignal): Promise<KeyVaultKey> {
    const client = await call(keyUri, signal, () => keyClient(ref));
    return call(keyUri, signal, (abortSignal) =>
      client.getKey(ref.name, { ...(ref.version ? { version: ref.version } : {}), abortSignal }),
    );
  }

  const calls: AzureCalls = { parse, keyClient, call };

  return {
    schemes: [AZURE_SCHEME],

    async resolve(keyUri: string, { signal }: CallOptions): Promise<ResolvedKey> {
      const ref = parse(keyUri, false);
      const key = await getKey(ref, keyUri, signal);
      const unusable = whyUnusable(key);
      if (unusable) throw providerError(unusable[0], keyUri, `${keyUri}: ${unusable[1]}`);
      const version = key.properties.version;
      if (!version || !VERSION_PATTERN.test(version))
        throw providerError('unknown', keyUri, `${keyUri}: the vault returned no usable key version`);
      return { uri: formatAzureKeyId({ ...ref, version }), algorithm: AZURE_WRAP_ALGORITHM };
    },

    async wrap(keyUri: string, key: SecretKey, { signal }: CallOptions): Promise<WrappedKey> {
      const ref = parse(keyUri, true);
      const client = await call(keyUri, signal, () => cryptoClient(ref));
      const result = await call(keyUri, signal, (abortSignal) =>
        client.wrapKey(AZURE_WRAP_ALGORITHM, key.expose(), { abortSignal }),
      );
      return { keyUri: formatAzureKeyId(ref), algorithm: AZURE_WRAP_ALGORITHM, ciphertext: Buffer.from(result.result) };
    },

    async unwrap(wrapped: WrappedKey, { signal }: CallOptions): Promise<SecretKey> {
      const keyUri = wrapped.keyUri;
      const ref = parse(keyUri, true);
      if (!AZURE_UNWRAP_ALGORITHMS.includes(wrapped.algorithm)) {
        throw providerError(
          'unwrap_rejected',
          keyUri,
          `${keyUri}: unsupported wrap algorithm ${JSON.stringify(wrapped.algorithm.slice(0, 40))} (expected ${AZURE_UNWRAP_ALGORITHMS.join(' or ')})`,
        );
      }
      const client = await call(keyUri, signal, () => cryptoClient(ref));
      const algorithm = wrapped.algorithm as 'RSA-OAEP-256' | 'RSA-OAEP';
      // A result that arrives after the caller gave up is zeroed, not left to the garbage collector.
      const result = await call(
        keyUri,
        signal,
        (abortSignal) => client.unwrapKey(algorithm, wrapped.ciphertext, { abortSignal }),
        (late) => late.result.fill(0),
      );
      const plain = result.result;
      if (signal.aborted) {
        plain.fill(0);
        throw aborted(keyUri, signal);
      }
      return SecretKey.copyFrom(plain, true);
    },

    /**
     * GETs the key (permission `get`): usable when it exists, is enabled, within its dates and permits
     * wrapKey and unwrapKey. A 404 is told apart as deleted or missing by asking /deletedkeys. Throws only
     * when the call is aborted.
     */
    async status(keyUri: string, { signal }: CallOptions): Promise<KeyStatus> {
      try {
        const ref = parse(keyUri, false);
        let key: KeyVaultKey;
        try {
          key = await getKey(ref, keyUri, signal);
        } catch (err) {
          if (isProviderError(err) && err.reason === 'key_not_found' && !signal.aborted)
            throw await refineNotFound(ref, keyUri, signal, err);
          throw err;
        }
        const unusable = whyUnusable(key);
        return unusable
          ? { uri: keyUri, usable: false, kind: 'revoked', reason: unusable[0] }
          : { uri: keyUri, usable: true };
      } catch (err) {
        if (!isProviderError(err) || err.reason === 'aborted' || signal.aborted)
          throw isProviderError(err) ? err : classifyAzureError(err, keyUri, signal);
        return { uri: keyUri, usable: false, kind: err.kind, reason: err.reason };
      }
    },

    createKey(baseUri: string, nameHint: string, { signal }: CallOptions): Promise<ResolvedKey> {
      return createAzureKey(calls, baseUri, nameHint, signal);
    },

    destroyKey(keyUri: string, { signal }: CallOptions): Promise<DestructionConfirmation> {
      return destroyAzureKey(calls, keyUri, signal);
    },

    async close(): Promise<void> {
      closed = true;
      keyClients.clear();
      cryptoClients.clear();
    },
  };

  async function refineNotFound(
    ref: AzureKeyRef,
    keyUri: string,
    signal: AbortSignal,
    notFound: ProviderError,
  ): Promise<ProviderError> {
    try {
      const client = await keyClient(ref);
      await call(keyUri, signal, (abortSignal) => client.getDeletedKey(ref.name, { abortSignal }));
      return providerError(
        'key_deleted',
        keyUri,
        `${keyUri}: the key is deleted (soft-deleted; recoverable by the vault's owner until purged)`,
      );
    } catch {
      return notFound;
    }
  }
}

/** Why a key the vault returned cannot be used to wrap and unwrap, or undefined. */
function whyUnusable(key: KeyVaultKey): ['key_disabled' | 'unknown', string] | undefined {
  const p = key.properties;
  const now = Date.now();
  if (p.enabled === false) return ['key_disabled', 'the key is disabled'];
  if (p.notBefore && now < p.notBefore.getTime())
    return ['key_disabled', `the key cannot be used before ${p.notBefore.toISOString()}`];
  if (p.expiresOn && now > p.expiresOn.getTime())
    return ['key_disabled', `the key expired at ${p.expiresOn.toISOString()}`];
  const ops = key.keyOperations;
  if (ops && (!ops.includes('wrapKey') || !ops.includes('unwrapKey')))
    return ['key_disabled', 'the key does not permit wrapKey and unwrapKey'];
  if (key.keyType !== undefined && key.keyType !== 'RSA' && key.keyType !== 'RSA-HSM')
    return ['unknown', `the key is ${key.keyType}, not RSA`];
  return undefined;
}

function aborted(keyUri: string, signal: AbortSignal): ProviderError {
  const [reason, detail] = abortReason(signal.reason);
  return providerError(reason, keyUri, `${keyUri}: ${detail}`);
}
