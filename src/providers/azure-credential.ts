import type { Agent } from 'node:https';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { UnwrapdError } from '../errors.js';
import { classifyIdentityFailure } from './azure-identity-errors.js';
import { identityHttpClient, recordingExchanges } from './azure-identity-transport.js';
import type { ProviderErrorReason } from './provider-error.js';
import { raceAbort } from '../race-abort.js';
import { missingCredentialEnv, type AzureCredentialKind } from './azure-credential-kind.js';

export { missingCredentialEnv, type AzureCredentialKind } from './azure-credential-kind.js';

/**
 * How the credential talks to its identity endpoint (Entra ID, or the managed identity endpoint): the same
 * bounds as the vault calls (azure-identity-transport.ts), and the TLS settings of the provider.
 */
export interface AzureIdentityOptions {
  maxRetries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  tryTimeoutMs: number;
  /** Extra CA certificates to trust (PEM), e.g. a test CA. */
  tlsCa?: string;
  /** An https.Agent for every identity request. */
  agent?: Agent;
  /**
   * Skip Entra instance discovery (a request to login.microsoftonline.com) and trust the authority host as
   * given: for authority hosts that are not Entra clouds (tests on 127.0.0.1). Default false.
   */
  disableInstanceDiscovery?: boolean;
}

export async function createAzureCredential(
  kind: AzureCredentialKind,
  env: NodeJS.ProcessEnv = process.env,
  io?: AzureIdentityOptions,
): Promise<TokenCredential> {
  const missing = missingCredentialEnv(kind, env);
  if (missing.length > 0)
    throw new UnwrapdError('failed_precondition', `azure credential "${kind}" needs ${missing.join(', ')}`);
  const identity = await import('@azure/identity');
  const common = {
    ...(io ? transportOptions(io) : {}),
    ...(env.AZURE_AUTHORITY_HOST ? { authorityHost: env.AZURE_AUTHORITY_HOST } : {}),
    ...(io?.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
  };
  switch (kind) {
    case 'default':
      return new identity.DefaultAzureCredential(common);
    case 'workload-identity':
      return new identity.WorkloadIdentityCredential({
        ...common,
        tenantId: env.AZURE_TENANT_ID!,
        clientId: env.AZURE_CLIENT_ID!,
        tokenFilePath: env.AZURE_FEDERATED_TOKEN_FILE!,
      });
    case 'managed-identity':
      return env.AZURE_CLIENT_ID
        ? new identity.ManagedIdentityCredential({ ...common, clientId: env.AZURE_CLIENT_ID })
        : new identity.ManagedIdentityCredential(common);
    case 'client-secret':
      return new identity.ClientSecretCredential(
        env.AZURE_TENANT_ID!,
        env.AZURE_CLIENT_ID!,
        env.AZURE_CLIENT_SECRET!,
        common,
      );
    case 'azure-cli':
      return new identity.AzureCliCredential();
  }
}

/** The pipeline options every credential passes to its identity client (an `IdentityClient`, a core-client ServiceClient). */
function transportOptions(io: AzureIdentityOptions): Record<string, unknown> {
  return {
    retryOptions: { maxRetries: io.maxRetries, retryDelayInMs: io.retryDelayMs, maxRetryDelayInMs: io.maxRetryDelayMs },
    httpClient: identityHttpClient({
      tryTimeoutMs: io.tryTimeoutMs,
      retryDelayMs: io.retryDelayMs,
      maxRetryDelayMs: io.maxRetryDelayMs,
    }),
    ...(io.tlsCa ? { tlsOptions: { ca: io.tlsCa } } : {}),
    ...(io.agent ? { agent: io.agent } : {}),
  };
}

/** What a credential wrapped by `classifyingCredential` throws: the failure already classified by its cause. */
export class AzureIdentityError extends Error {
  readonly reason: ProviderErrorReason;
  constructor(reason: ProviderErrorReason, message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'AzureIdentityError';
    this.reason = reason;
  }
}

/**
 * Wraps a credential so that a failed `getToken` is classified by its cause (azure-identity-errors.ts),
 * with the record of what its requests met on the wire (azure-identity-transport.ts).
 *
 * It also keeps the last token it got for each request shape (scopes, tenant, claims, CAE), and when a
 * token request fails while that token still had more than about a second to live when the request began,
 * it returns that token instead of throwing. This is what the Key Vault SDK's token cycler means to do (it refreshes in the
 * background during the last 2 minutes and keeps the valid token when that fails), but the cycler's
 * background refresh rejects a promise nobody awaits once the token expires during an outage: an unhandled
 * rejection, which ends a Node.js process. With the token returned here the background refresh settles;
 * a caller that must have a fresh token still gets the classified error.
 *
 * And it settles when the caller's abort signal fires (see below).
 */
/**
 * A held token serves only while it has this much life left when the request starts: the SDK's cycler
 * refreshes in the background only while its token has more than 1 s left (below that, its callers wait for
 * the refresh and get its error), so this covers every background refresh with a little margin.
 */
const HELD_TOKEN_MIN_LIFE_MS = 950;
const MAX_HELD_TOKENS = 32;

export function classifyingCredential(inner: TokenCredential): TokenCredential {
  const held = new Map<string, AccessToken>();
  return {
    async getToken(scopes, options) {
      const key = JSON.stringify([scopes, options?.tenantId ?? '', options?.claims ?? '', options?.enableCae ?? false]);
      const startedAt = Date.now();
      const work = recordingExchanges(() => inner.getToken(scopes, options)).then((outcome) => {
        if (!('error' in outcome) && outcome.value) {
          held.delete(key);
          held.set(key, outcome.value);
          if (held.size > MAX_HELD_TOKENS) held.delete(held.keys().next().value as string); // claims vary per CAE challenge: bounded
        }
        return outcome;
      });
      const signal = options?.abortSignal as AbortSignal | undefined;
      let outcome: Awaited<typeof work>;
      try {
        // Settle when the caller gives up: the SDK's token cycler shares one refresh among its callers, and a
        // refresh left hanging would hold every later request (even after the endpoint recovered) until its
        // own tries ran out. The request itself goes on to its per-try timeout; a token it brings is kept.
        outcome = signal
          ? await raceAbort(work, signal, () =>
              Object.assign(new Error('the token request was aborted by its caller'), { name: 'AbortError' }),
            )
          : await work;
      } catch (aborted) {
        outcome = { error: aborted, exchanges: [] };
      }
      if (!('error' in outcome)) return outcome.value ?? null;
      const last = held.get(key);
      if (last && last.expiresOnTimestamp - HELD_TOKEN_MIN_LIFE_MS > startedAt) return last;
      held.delete(key);
      const [reason, detail] = classifyIdentityFailure(outcome.error, outcome.exchanges);
      throw new AzureIdentityError(reason, detail, outcome.error);
    },
  };
}
