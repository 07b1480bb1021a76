import type { ProviderErrorReason } from './provider-error.js';
import type { TokenExchange } from './azure-identity-transport.js';

/**
 * Classification of a failed @azure/identity `getToken` by its cause. The rule: **an outage of the
 * identity service is an outage, not a revocation.** Only an answer in which Entra ID (or the managed
 * identity endpoint) says no to this application is a revocation; anything not recognised stays `revoked`
 * (fail closed) with its cause in the message (redacted).
 *
 * Two sources, read in this order:
 * 1. What went over the wire during the call (`exchanges`, recorded by azure-identity-transport.ts):
 *    @azure/identity and MSAL reduce it to messages such as "network_error" or "endpoints_resolution_error".
 * 2. The error chain the library threw (`cause`s, AggregateAuthenticationError's `errors`):
 *    AuthenticationError's `statusCode` and `errorResponse`, MSAL errors' `errorCode`, `AADSTS<n>` in messages.
 *
 * | cause (first match wins)                                                              | reason           | kind        |
 * | ------------------------------------------------------------------------------------- | ---------------- | ----------- |
 * | OAuth error invalid_client, unauthorized_client, invalid_grant, invalid_scope,        | access_denied    | revoked     |
 * |   access_denied, consent_required, interaction_required, or a revoking AADSTS code:   |                  |             |
 * |   7000215 invalid secret, 7000222 secret expired, 700016 app not found, 7000112 app   |                  |             |
 * |   disabled, 65001 consent, 700027/700024 assertion rejected, 70021/700213 no federated |                  |             |
 * |   credential, 90002 tenant not found, 500011 resource not in tenant, 53003 blocked by  |                  |             |
 * |   Conditional Access                                                                 |                  |             |
 * | the last failed exchange got no answer: ECONNREFUSED, ECONNRESET, ENOTFOUND, hang-up… | connection_error | unavailable |
 * | the last failed exchange timed out (per-try timeout), or answered 408                 | timeout          | unavailable |
 * | the last failed exchange answered 429 (after the bounded retries)                     | throttled        | unavailable |
 * | the last failed exchange answered 5xx (after the bounded retries)                     | server_error     | unavailable |
 * | OAuth error temporarily_unavailable or server_error (whatever the status)             | server_error     | unavailable |
 * | AuthenticationError (or MSAL ServerError) with status 408 / 429 / 5xx                 | as the three above | unavailable |
 * | AuthenticationError (or MSAL ServerError) with another 4xx                            | access_denied    | revoked     |
 * | MSAL `network_error`; a network error code in the chain                               | connection_error | unavailable |
 * | AbortError / TimeoutError in the chain                                                | timeout          | unavailable |
 * | anything else (e.g. CredentialUnavailableError for a missing setting, a bad answer)   | unknown          | revoked     |
 */
export function classifyIdentityFailure(
  err: unknown,
  exchanges: readonly TokenExchange[] = [],
): [ProviderErrorReason, string] {
  const chain = errorChain(err);
  const summary = describe(chain, exchanges);

  // 1. Entra ID (or the managed identity endpoint) said no to this application.
  const refusal =
    exchanges.find((x) => isRefusal(x.oauthError, x.errorCodes)) ??
    chain.find((e) => isRefusal(oauthErrorOf(e), aadstsCodes(e)));
  if (refusal) return ['access_denied', `the identity service refused the credential: ${summary}`];

  // 2. What the wire saw on the last exchange that failed.
  const failed = [...exchanges]
    .reverse()
    .find((x) => x.code !== undefined || (x.status !== undefined && x.status >= 400));
  const byWire = failed ? reasonOfExchange(failed) : undefined;
  if (byWire) return [byWire, `the identity endpoint is unavailable: ${summary}`];

  // 3. It said "not now".
  if (
    [...exchanges.map((x) => x.oauthError), ...chain.map(oauthErrorOf)].some(
      (e) => e !== undefined && TRANSIENT_OAUTH_ERRORS.has(e),
    )
  ) {
    return ['server_error', `the identity service is temporarily unavailable: ${summary}`];
  }

  // 4. What the library's error chain says.
  for (const e of chain) {
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if ((e.name === 'AuthenticationError' || e.name === 'ServerError') && status !== undefined) {
      const outage = statusReason(status);
      if (outage) return [outage, `the identity endpoint is unavailable: ${summary}`];
      if (status >= 400 && status < 500)
        return ['access_denied', `the identity service refused the credential: ${summary}`];
    }
    if (e.errorCode === 'network_error')
      return ['connection_error', `the identity endpoint is unreachable: ${summary}`];
    if (typeof e.code === 'string' && (e.code === 'ETIMEDOUT' || e.code === 'ESOCKETTIMEDOUT'))
      return ['timeout', `the identity endpoint did not answer in time: ${summary}`];
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code))
      return ['connection_error', `the identity endpoint is unreachable: ${summary}`];
    if (e.name === 'AbortError' || e.name === 'TimeoutError')
      return ['timeout', `the token request was aborted: ${summary}`];
  }
  return ['unknown', `unclassified identity failure (treated as revoked): ${summary}`];
}

const REFUSING_OAUTH_ERRORS = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_grant',
  'invalid_scope',
  'access_denied',
  'consent_required',
  'interaction_required',
]);
const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error']);
/** AADSTS codes in which Entra ID refuses this application (secret, app, consent, federation, tenant, policy). */
export const REFUSING_AADSTS_CODES: ReadonlySet<number> = new Set([
  7000215, 7000222, 700016, 7000112, 65001, 700027, 700024, 70021, 700213, 90002, 500011, 53003,
]);
/** Socket error codes that mean the peer could not be reached (Key Vault and the token endpoint alike). */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
/** The token endpoint also counts a host or network reported down. */
const NETWORK_CODES = new Set([...UNREACHABLE_CODES, 'EHOSTDOWN', 'ENETDOWN']);

function isRefusal(oauthError: string | undefined, codes: readonly number[] | undefined): boolean {
  if (oauthError !== undefined && REFUSING_OAUTH_ERRORS.has(oauthError)) return true;
  return (codes ?? []).some((c) => REFUSING_AADSTS_CODES.has(c));
}

function statusReason(status: number): ProviderErrorReason | undefined {
  if (status === 408) return 'timeout';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server_error';
  return undefined;
}

function reasonOfExchange(x: TokenExchange): ProviderErrorReason | undefined {
  if (x.code === 'ETIMEDOUT' || x.code === 'ESOCKETTIMEDOUT') return 'timeout';
  if (x.status !== undefined) return statusReason(x.status);
  if (x.code !== undefined) return 'connection_error'; // no answer at all: refused, reset, DNS, TLS, hang-up
  return undefined;
}

interface ChainLink {
  name: string;
  message: string;
  code?: unknown;
  errorCode?: unknown;
  statusCode?: unknown;
  errorResponse?: { error?: unknown; errorCodes?: unknown };
}

/** The error, its `cause`s, and an AggregateAuthenticationError's `errors` (bounded). */
function errorChain(err: unknown): ChainLink[] {
  const out: ChainLink[] = [];
  const queue: unknown[] = [err];
  const seen = new Set<unknown>();
  while (queue.length > 0 && out.length < 12) {
    const e = queue.shift();
    if (typeof e !== 'object' || e === null || seen.has(e)) continue;
    seen.add(e);
    const link = e as ChainLink & { cause?: unknown; errors?: unknown };
    out.push({
      name: typeof link.name === 'string' ? link.name : 'Error',
      message: typeof link.message === 'string' ? link.message : '',
      code: link.code,
      errorCode: link.errorCode,
      statusCode: typeof link.statusCode === 'number' ? link.statusCode : (link as { status?: unknown }).status, // MSAL's ServerError: `status`
      errorResponse: link.errorResponse,
    });
    if (link.cause !== undefined) queue.push(link.cause);
    if (Array.isArray(link.errors)) queue.push(...link.errors);
  }
  return out;
}

/** An OAuth error name: AuthenticationError's errorResponse.error, an MSAL error's errorCode, or "<error>:" leading a message. */
function oauthErrorOf(e: ChainLink): string | undefined {
  if (typeof e.errorResponse?.error === 'string') return e.errorResponse.error;
  if (
    typeof e.errorCode === 'string' &&
    (REFUSING_OAUTH_ERRORS.has(e.errorCode) || TRANSIENT_OAUTH_ERRORS.has(e.errorCode))
  )
    return e.errorCode;
  const lead = /^([a-z_]+)(?::| Status code)/.exec(e.message)?.[1];
  return lead !== undefined && (REFUSING_OAUTH_ERRORS.has(lead) || TRANSIENT_OAUTH_ERRORS.has(lead)) ? lead : undefined;
}

/** AADSTS codes: AuthenticationError's errorResponse.errorCodes, and any `AADSTS<n>` in the message. */
function aadstsCodes(e: ChainLink): number[] {
  const codes = Array.isArray(e.errorResponse?.errorCodes)
    ? (e.errorResponse.errorCodes as unknown[]).filter((c): c is number => typeof c === 'number')
    : [];
  for (const m of e.message.matchAll(/AADSTS(\d{4,7})/g)) codes.push(Number(m[1]));
  return codes;
}

/** One line for logs and errors: the exchanges (method, host/path, status or code) and the chain's names and messages, redacted. */
function describe(chain: readonly ChainLink[], exchanges: readonly TokenExchange[]): string {
  const wire = exchanges
    .slice(-4)
    .map(
      (x) =>
        `${x.request} -> ${x.status ?? x.code ?? '?'}${x.oauthError ? ` ${x.oauthError}` : ''}${x.errorCodes ? ` AADSTS${x.errorCodes.join(',')}` : ''}`,
    );
  const errors = chain
    .slice(0, 4)
    .map(
      (e) =>
        `${e.name}${typeof e.errorCode === 'string' && e.errorCode ? `(${e.errorCode})` : ''}: ${e.message.split('\n')[0]?.slice(0, 200) ?? ''}`,
    );
  return redact([...errors, ...(wire.length ? [`wire: ${wire.join('; ')}`] : [])].join(' <- '));
}

/**
 * Removes what must never reach a log: JWTs (access tokens, client assertions), bearer tokens, and the
 * values of secret-looking fields (client_secret, client_assertion, access/refresh/id tokens, passwords).
 */
export function redact(text: string): string {
  return text
    .replace(/eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]')
    .replace(/(bearer\s+)[^\s"',;]+/gi, '$1[redacted]')
    .replace(
      /((?:client_secret|client_assertion|access_token|refresh_token|id_token|password|secret|assertion)["']?\s*[:=]\s*["']?)[^\s"'&,;}]+/gi,
      '$1[redacted]',
    )
    .slice(0, 1200);
}
