import { AsyncLocalStorage } from 'node:async_hooks';
import {
  createDefaultHttpClient,
  RestError,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { backoffDelayMs, retryAfterMs, RETRY_AFTER_HEADERS } from './azure-pipeline.js';

/**
 * The HTTP client under every @azure/identity request (Entra token endpoint, OpenID discovery, managed
 * identity endpoints). @azure/identity and MSAL hide what went wrong on the wire behind
 * `CredentialUnavailableError` / `AuthenticationRequiredError` messages such as "network_error", so this
 * client records each exchange of the `getToken` call it runs in (an AsyncLocalStorage, see
 * `recordingExchanges`), and the classification (azure-identity-errors.ts) reads the record.
 *
 * It also makes identity requests bounded and outage-friendly:
 * - each try gets `tryTimeoutMs` (a hung endpoint fails as a RestError ETIMEDOUT, which the SDK retries as a
 *   network error); MSAL gives its requests no deadline of its own;
 * - a 429 without Retry-After gets one (exponential backoff from `retryDelayMs`, capped at
 *   `maxRetryDelayMs`), so the SDK's throttling strategy retries it; a Retry-After beyond the cap is dropped
 *   (never waited for);
 * - an outage answer (408, 429, 5xx) is thrown as a RestError carrying the response, instead of being
 *   returned: the SDK's retry policy still retries it, but MSAL never sees the response, so MSAL's
 *   throttling cache (which refuses every token request for 60 s after a 429/5xx, or for as long as any
 *   Retry-After says) never holds a recovered endpoint down. For the same reason Retry-After headers are
 *   removed from every other non-2xx answer before MSAL reads it.
 *
 * It is passed as `httpClient` in the credential options: unlike `additionalPolicies` (which
 * ManagedIdentityCredential overwrites with its own), every credential honours it.
 */
export interface TokenExchange {
  /** `METHOD origin/path` (never the query: it may carry a client id or resource). */
  request: string;
  status?: number;
  /** Network error code (ECONNREFUSED, ...) or `ETIMEDOUT` for a try that ran out of time. */
  code?: string;
  /** OAuth `error` of a JSON error body (invalid_client, temporarily_unavailable, ...). */
  oauthError?: string;
  /** Entra's numeric `error_codes` (AADSTS<n>). */
  errorCodes?: number[];
}

export interface IdentityTransportOptions {
  tryTimeoutMs: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
}

const exchanges = new AsyncLocalStorage<TokenExchange[]>();

/** Runs `work` with a fresh record of the identity exchanges it makes; returns both. */
export async function recordingExchanges<T>(
  work: () => Promise<T>,
): Promise<{ value?: T; error?: unknown; exchanges: TokenExchange[] }> {
  const record: TokenExchange[] = [];
  try {
    return { value: await exchanges.run(record, work), exchanges: record };
  } catch (error) {
    return { error, exchanges: record };
  }
}

const OUTAGE_STATUS = (status: number): boolean => status === 408 || status === 429 || status >= 500;

export function identityHttpClient(
  o: IdentityTransportOptions,
  base: HttpClient = createDefaultHttpClient(),
): HttpClient {
  const tries = new WeakMap<PipelineRequest, number>();
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const attempt = (tries.get(request) ?? 0) + 1;
      tries.set(request, attempt);
      const url = new URL(request.url);
      const exchange: TokenExchange = { request: `${request.method} ${url.origin}${url.pathname}` };
      exchanges.getStore()?.push(exchange);

      const outer = request.abortSignal;
      const timer = AbortSignal.timeout(o.tryTimeoutMs);
      request.abortSignal = outer ? AbortSignal.any([outer as AbortSignal, timer]) : timer;
      let response: PipelineResponse;
      try {
        response = await base.sendRequest(request);
      } catch (err) {
        if (timer.aborted && !outer?.aborted) {
          exchange.code = 'ETIMEDOUT';
          throw new RestError(`identity endpoint: no response within ${o.tryTimeoutMs} ms`, {
            code: 'ETIMEDOUT',
            request,
          });
        }
        const code = (err as { code?: unknown }).code;
        exchange.code = typeof code === 'string' ? code : ((err as { name?: string }).name ?? 'error');
        throw err;
      } finally {
        request.abortSignal = outer;
      }

      exchange.status = response.status;
      if (response.status >= 400) Object.assign(exchange, oauthErrorOf(response.bodyAsText));
      if (response.status < 300) return response;
      const headers = response.headers;
      if (OUTAGE_STATUS(response.status)) {
        const asked = retryAfterMs(headers.get.bind(headers));
        if (asked !== undefined && asked > o.maxRetryDelayMs) for (const h of RETRY_AFTER_HEADERS) headers.delete(h);
        else if (asked === undefined && response.status === 429)
          headers.set('retry-after-ms', String(backoffDelayMs(attempt, o.retryDelayMs, o.maxRetryDelayMs)));
        throw new RestError(`identity endpoint answered ${response.status}`, {
          statusCode: response.status,
          request,
          response,
        });
      }
      for (const h of RETRY_AFTER_HEADERS) headers.delete(h);
      return response;
    },
  };
}

/** The OAuth error fields of a JSON error body (Entra: `error`, `error_codes`; IMDS: `error` may be an object). */
function oauthErrorOf(body: string | null | undefined): Pick<TokenExchange, 'oauthError' | 'errorCodes'> {
  if (!body) return {};
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_codes?: unknown };
    const error =
      typeof parsed.error === 'string'
        ? parsed.error
        : typeof (parsed.error as { code?: unknown })?.code === 'string'
          ? (parsed.error as { code: string }).code
          : undefined;
    const codes = Array.isArray(parsed.error_codes)
      ? parsed.error_codes.filter((c): c is number => typeof c === 'number').slice(0, 8)
      : undefined;
    return { ...(error ? { oauthError: error.slice(0, 64) } : {}), ...(codes?.length ? { errorCodes: codes } : {}) };
  } catch {
    return {};
  }
}
