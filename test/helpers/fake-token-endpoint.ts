import { Agent, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { testCa } from './test-ca.js';

/**
 * An identity endpoint for tests, on https://127.0.0.1:<port> with the test CA (test-ca.ts), that the real
 * @azure/identity 4.13.1 (and the MSAL inside it) gets tokens from:
 *
 * - **Entra ID** (ClientSecretCredential, WorkloadIdentityCredential / ClientAssertionCredential): MSAL first
 *   GETs `/<tenant>/v2.0/.well-known/openid-configuration` (once per authority), then POSTs
 *   `/<tenant>/oauth2/v2.0/token` (grant_type=client_credentials). Point a credential here with
 *   `authorityHost: endpoint.url` and `disableInstanceDiscovery: true` (otherwise MSAL asks
 *   login.microsoftonline.com to validate the authority).
 * - **IMDS** (ManagedIdentityCredential): GET `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`
 *   with `Metadata: true`. MSAL reads the IMDS address only from process.env
 *   (`AZURE_POD_IDENTITY_AUTHORITY_HOST`=endpoint.url), and keeps the first managed identity source it
 *   chose, and its HTTP client, in static fields for the life of the process: one ManagedIdentityCredential
 *   per test process.
 *
 * Tokens expire in `expiresInS` (default -2: already expired when they arrive, even after MSAL rounds the
 * time; the fake vault accepts them anyway): MSAL and the Key Vault SDK then ask for a new token for every
 * vault request, so an outage of this endpoint is seen at once (with real lifetimes it is seen when the
 * token in hand expires). With 0, MSAL's rounding can leave a token "valid" for up to half a second, and
 * the SDK's token cycler then swallows the first failure, waits 3 s and tries again. A secret equal to `revokedSecret` gets Entra's answer for a wrong or expired
 * secret (401 invalid_client, AADSTS7000215).
 *
 * Faults: `status` (any status and body), `hang` (never answers), `reset`; `refuse()` stops listening (the
 * next connections are refused) until `restore()` listens again on the same port.
 */
export type TokenRoute = 'discovery' | 'token' | 'imds' | 'other';

export type TokenFault =
  /** `body`: JSON (default: what Entra answers for the status), or a string sent as it is. */
  | { type: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'hang' }
  | { type: 'reset' };

export interface TokenRequestLogEntry {
  method: string;
  path: string;
  route: TokenRoute;
  status: number | 'hang' | 'reset';
}

export interface FakeTokenEndpointOptions {
  token?: string;
  expiresInS?: number;
  revokedSecret?: string;
}

export class FakeTokenEndpoint {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #faults: Array<{ action: TokenFault; routes?: readonly TokenRoute[]; times?: number; used: number }> = [];
  readonly #token: string;
  readonly #expiresInS: number;
  readonly #revokedSecret: string | undefined;
  #port = 0;
  readonly requests: TokenRequestLogEntry[] = [];
  readonly ca: string;

  private constructor(opts: FakeTokenEndpointOptions) {
    const ca = testCa();
    this.ca = ca.caPem;
    this.#token = opts.token ?? 'test-token';
    this.#expiresInS = opts.expiresInS ?? -2;
    this.#revokedSecret = opts.revokedSecret;
    this.#server = createServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) this.#json(res, 500, { error: 'server_error' });
      });
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(opts: FakeTokenEndpointOptions = {}): Promise<FakeTokenEndpoint> {
    const endpoint = new FakeTokenEndpoint(opts);
    await endpoint.#listen(0);
    return endpoint;
  }

  get url(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  fault(rule: { action: TokenFault; routes?: readonly TokenRoute[]; times?: number }): void {
    this.#faults.push({ ...rule, used: 0 });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Requests that reached a route (faulted or not). */
  count(route: TokenRoute): number {
    return this.requests.filter((r) => r.route === route).length;
  }

  /** Stops listening and drops open connections: connections are refused until `restore()`. */
  async refuse(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async restore(): Promise<void> {
    await this.#listen(this.#port);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://endpoint');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const route = routeOf(method, url.pathname);
    const entry: TokenRequestLogEntry = { method, path: url.pathname, route, status: 0 };
    this.requests.push(entry);

    const fault = this.#takeFault(route);
    if (fault?.type === 'hang') {
      entry.status = 'hang';
      return; // never answers; refuse()/close() destroy the socket
    }
    if (fault?.type === 'reset') {
      entry.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault?.type === 'status') {
      entry.status = fault.status;
      for (const [k, v] of Object.entries(fault.headers ?? {})) res.setHeader(k, v);
      if (typeof fault.body === 'string') {
        // A raw body (an HTML error page from a proxy, or nothing at all).
        res.writeHead(fault.status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(fault.body) });
        res.end(fault.body);
      } else this.#json(res, fault.status, fault.body ?? defaultErrorBody(fault.status));
      return;
    }

    const now = Math.floor(Date.now() / 1000);
    switch (route) {
      case 'discovery': {
        const tenant = url.pathname.split('/')[1] ?? 'common';
        const base = `${this.url}/${tenant}`;
        entry.status = 200;
        this.#json(res, 200, {
          token_endpoint: `${base}/oauth2/v2.0/token`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
          issuer: `${base}/v2.0`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          tenant_region_scope: 'WW',
        });
        return;
      }
      case 'token': {
        const form = new URLSearchParams(body);
        if (this.#revokedSecret !== undefined && form.get('client_secret') === this.#revokedSecret) {
          entry.status = 401;
          this.#json(res, 401, {
            error: 'invalid_client',
            error_description:
              'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. Trace ID: 00000000-0000-0000-0000-000000000000',
            error_codes: [7000215],
            timestamp: new Date().toISOString(),
            trace_id: '00000000-0000-0000-0000-000000000000',
            correlation_id: '00000000-0000-0000-0000-000000000000',
          });
          return;
        }
        if (!form.get('client_secret') && !form.get('client_assertion')) {
          entry.status = 400;
          this.#json(res, 400, {
            error: 'invalid_request',
            error_description: 'AADSTS900144: The request body must contain client_secret or client_assertion.',
            error_codes: [900144],
          });
          return;
        }
        entry.status = 200;
        this.#json(res, 200, {
          token_type: 'Bearer',
          expires_in: this.#expiresInS,
          ext_expires_in: this.#expiresInS,
          access_token: this.#token,
        });
        return;
      }
      case 'imds': {
        if (req.headers.metadata !== 'true') {
          entry.status = 400;
          this.#json(res, 400, {
            error: 'invalid_request',
            error_description: 'Required metadata header not specified',
          });
          return;
        }
        entry.status = 200;
        this.#json(res, 200, {
          access_token: this.#token,
          expires_on: String(now + this.#expiresInS),
          expires_in: String(this.#expiresInS),
          resource: url.searchParams.get('resource') ?? '',
          token_type: 'Bearer',
        });
        return;
      }
      default:
        entry.status = 404;
        this.#json(res, 404, { error: 'not_found' });
    }
  }

  #takeFault(route: TokenRoute): TokenFault | undefined {
    for (const rule of this.#faults) {
      if (rule.routes && !rule.routes.includes(route)) continue;
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      rule.used++;
      return rule.action;
    }
    return undefined;
  }

  #json(res: ServerResponse, status: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

function routeOf(method: string, path: string): TokenRoute {
  if (method === 'GET' && /^\/[^/]+\/v2\.0\/\.well-known\/openid-configuration$/.test(path)) return 'discovery';
  if (method === 'POST' && /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path)) return 'token';
  if (method === 'GET' && /^\/metadata\/identity\/oauth2\/token\/?$/.test(path)) return 'imds';
  return 'other';
}

/** What Entra ID / IMDS answer in an outage (the body MSAL parses). */
function defaultErrorBody(status: number): unknown {
  if (status === 503)
    return {
      error: 'temporarily_unavailable',
      error_description: 'AADSTS90033: A transient error has occurred. Please try again.',
      error_codes: [90033],
    };
  if (status >= 500)
    return {
      error: 'server_error',
      error_description: 'AADSTS90000: Internal server error (injected).',
      error_codes: [90000],
    };
  if (status === 429) return { error: 'temporarily_unavailable', error_description: 'Too many requests (injected).' };
  return { error: 'invalid_request', error_description: `status ${status} (injected)` };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * An https.Agent that trusts the test CA and connects only to 127.0.0.1: any other address (169.254.169.254
 * for IMDS, login.microsoftonline.com for instance discovery, ...) is refused before a packet is sent, and
 * recorded in `refused`, so a test can prove it never left the machine.
 */
export function loopbackOnlyAgent(ca: string): Agent & { refused: string[] } {
  class LoopbackOnly extends Agent {
    readonly refused: string[] = [];
    override createConnection(
      options: Parameters<Agent['createConnection']>[0],
      callback?: Parameters<Agent['createConnection']>[1],
    ): ReturnType<Agent['createConnection']> {
      const host = options.host ?? '';
      if (host !== '127.0.0.1') {
        this.refused.push(host);
        throw Object.assign(new Error(`test guard: no connection to ${host} (127.0.0.1 only)`), {
          code: 'ECONNREFUSED',
        });
      }
      return super.createConnection(options, callback);
    }
  }
  return new LoopbackOnly({ ca, keepAlive: true });
}
