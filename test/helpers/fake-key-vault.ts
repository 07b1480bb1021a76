import { constants, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { Agent, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fixtureRsaKey } from './rsa-key-pool.js';
import { testCa } from './test-ca.js';

/**
 * A Key Vault-compatible HTTPS server for tests: enough of the Key Vault REST API (api-version 7.x /
 * 2025-07-01) that the real `@azure/keyvault-keys` SDK can create, get, update (enable/disable), delete,
 * list versions of, wrap and unwrap with RSA keys, and fail in every way the provider must classify.
 * node:https + node:crypto only; the certificate comes from a throwaway CA (test-ca.ts).
 *
 * How the real SDK reaches it (measured with @azure/keyvault-keys 4.10.2):
 * - **By IP**: key ids `https://127.0.0.1:<port>/keys/<name>/<version>` (the SDK parses the host and port
 *   from the key id). The SDK's challenge check wants the challenge's resource (`vault.azure.net`) to be a
 *   suffix of the request's host, so this form needs `disableChallengeResourceVerification: true`. It
 *   also needs the test CA trusted: `tlsOptions: { ca }` (or an Agent with `ca`, or NODE_EXTRA_CA_CERTS).
 * - **By vault host name**: `new FakeKeyVault({ host: 'contoso-a.vault.azure.net' })` issues key ids
 *   `https://contoso-a.vault.azure.net:<port>/keys/...`; the client then needs an https.Agent whose
 *   `lookup` sends every name to 127.0.0.1 (see `loopbackAgent`) and trusts the CA. With that the SDK's
 *   challenge-resource check stays ON, as in production. The lookup never asks DNS.
 * - **Auth**: a request without `Authorization: Bearer <accepted token>` gets 401 with
 *   `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
 *   resource="https://vault.azure.net"`. The SDK sends each client's first request without a body and
 *   without a token, reads the challenge, gets a token from its credential (tests use `fakeCredential`),
 *   and resends. So every new SDK client costs one extra round trip, and the request log shows it.
 *
 * Errors use Key Vault's JSON shape `{"error":{"code","message","innererror":{"code"}}}`, so the SDK turns
 * them into its real RestError objects (statusCode, code = error.code, message = error.message).
 * What the real service answers, as far as public reports show (mimicked here):
 * - access removed (access policy / RBAC): 403, code `Forbidden`, innererror `AccessDenied` / `ForbiddenByRbac`;
 * - key disabled: GET still answers 200 with `attributes.enabled: false`; unwrapKey/decrypt/sign answer
 *   403 `Forbidden` "Operation unwrapKey is not allowed on a disabled key." (innererror `KeyDisabled`);
 *   wrapKey/encrypt (public-key operations) are still allowed;
 * - missing or deleted key: 404 `KeyNotFound`; a soft-deleted key is at /deletedkeys/<name>;
 * - a ciphertext the key cannot decrypt: 400 `BadParameter`;
 * - throttling: 429 `Throttled` with Retry-After (seconds).
 */

export type VaultOp =
  | 'create'
  | 'get'
  | 'update'
  | 'delete'
  | 'getDeleted'
  | 'purgeDeleted'
  | 'versions'
  | 'wrapkey'
  | 'unwrapkey'
  | 'other';

export type FaultAction =
  | { type: 'latency'; ms: number }
  | { type: 'hang' }
  | { type: 'reset' }
  | {
      type: 'status';
      status: number;
      code?: string;
      message?: string;
      innerCode?: string;
      headers?: Record<string, string>;
    };

export interface FaultRule {
  action: FaultAction;
  /** Which operations (default: all). */
  ops?: readonly VaultOp[];
  /** Only requests about this key name. */
  key?: string;
  /** How many matching requests it applies to (default: all). */
  times?: number;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  op: VaultOp;
  key?: string;
  authorized: boolean;
  status: number | 'reset' | 'hang';
}

export interface FakeKeyVaultOptions {
  /** A vault host name (e.g. `contoso-a.vault.azure.net`) instead of 127.0.0.1; see the header. */
  host?: string;
  /** Tokens accepted in `Authorization: Bearer`. Default: ['test-token'] (what fakeCredential returns). */
  acceptedTokens?: string[];
  tenantId?: string;
  /**
   * RSA size of keys made by createKey without one (2048 keeps tests fast). Keys are real, and in tests
   * drawn from the pre-generated pool (rsa-key-pool.ts, `fixtureRsaKey`) while it has keys of that size.
   */
  defaultBits?: number;
  /** Largest RSA size the create API really generates (a larger key_size is generated at this size, to keep tests fast). */
  maxCreateBits?: number;
}

interface KeyVersion {
  version: string;
  privateKey: KeyObject;
  jwk: { n: string; e: string };
  enabled: boolean;
  keyOps: string[];
  created: number;
  updated: number;
  exp?: number;
  nbf?: number;
}

interface KeyRecord {
  versions: KeyVersion[];
  deleted?: number;
}

const ALL_KEY_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];

export class FakeKeyVault {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #keys = new Map<string, KeyRecord>();
  readonly #faults: Array<FaultRule & { used: number }> = [];
  readonly #acceptedTokens: Set<string>;
  readonly #tenantId: string;
  readonly #defaultBits: number;
  readonly #maxCreateBits: number;
  readonly #host: string;
  #port = 0;
  #accessRevoked: 'none' | 'all' | Set<string> = 'none';
  readonly requests: RequestLogEntry[] = [];
  readonly ca: string;

  private constructor(opts: FakeKeyVaultOptions) {
    const ca = testCa();
    this.ca = ca.caPem;
    this.#acceptedTokens = new Set(opts.acceptedTokens ?? ['test-token']);
    this.#tenantId = opts.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
    this.#defaultBits = opts.defaultBits ?? 2048;
    this.#maxCreateBits = opts.maxCreateBits ?? Number.MAX_SAFE_INTEGER;
    this.#host = opts.host ?? '127.0.0.1';
    this.#server = createServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.#send(res, 500, { error: { code: 'InternalError', message: String(err) } });
      });
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(opts: FakeKeyVaultOptions = {}): Promise<FakeKeyVault> {
    const vault = new FakeKeyVault(opts);
    await new Promise<void>((resolve, reject) => {
      vault.#server.once('error', reject);
      vault.#server.listen(0, '127.0.0.1', () => resolve());
    });
    vault.#port = (vault.#server.address() as AddressInfo).port;
    return vault;
  }

  /** The vault URL, e.g. https://127.0.0.1:43125 */
  get url(): string {
    return `https://${this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  /** Creates a key directly (no HTTP), or a new version of an existing one; returns its key id. */
  async createKey(
    name: string,
    opts: { bits?: number; enabled?: boolean; keyOps?: string[]; exp?: Date; nbf?: Date } = {},
  ): Promise<string> {
    const privateKey = await fixtureRsaKey(opts.bits ?? this.#defaultBits);
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as { n: string; e: string };
    let record = this.#keys.get(name);
    if (!record || record.deleted !== undefined) {
      record = { versions: [] };
      this.#keys.set(name, record);
    }
    const now = Math.floor(Date.now() / 1000);
    const version: KeyVersion = {
      version: randomBytes(16).toString('hex'),
      privateKey,
      jwk: { n: jwk.n, e: jwk.e },
      enabled: opts.enabled ?? true,
      keyOps: opts.keyOps ?? ALL_KEY_OPS,
      created: now,
      updated: now,
      ...(opts.exp ? { exp: Math.floor(opts.exp.getTime() / 1000) } : {}),
      ...(opts.nbf ? { nbf: Math.floor(opts.nbf.getTime() / 1000) } : {}),
    };
    record.versions.push(version);
    return this.keyId(name, version.version);
  }

  keyId(name: string, version?: string): string {
    return version === undefined ? `${this.url}/keys/${name}` : `${this.url}/keys/${name}/${version}`;
  }

  /** Enables or disables one version (default: the latest). */
  setEnabled(name: string, enabled: boolean, version?: string): void {
    const v = this.#version(name, version);
    if (!v) throw new Error(`fake vault: no key ${name}/${version ?? 'latest'}`);
    v.enabled = enabled;
  }

  /** Soft-deletes a key (all versions): GET then answers 404 and /deletedkeys/<name> has it. */
  deleteKey(name: string): void {
    const record = this.#keys.get(name);
    if (!record) throw new Error(`fake vault: no key ${name}`);
    record.deleted = Math.floor(Date.now() / 1000);
  }

  /** Where a key is: `active`, soft-`deleted` (recoverable), or `absent` (purged, or never made). */
  keyState(name: string): 'active' | 'deleted' | 'absent' {
    const record = this.#keys.get(name);
    if (!record) return 'absent';
    return record.deleted === undefined ? 'active' : 'deleted';
  }

  /** Removes the caller's access (403 AccessDenied on every request), to the whole vault or to some keys. */
  revokeAccess(...keyNames: string[]): void {
    if (keyNames.length === 0) this.#accessRevoked = 'all';
    else {
      const set = this.#accessRevoked instanceof Set ? this.#accessRevoked : new Set<string>();
      for (const k of keyNames) set.add(k);
      this.#accessRevoked = set;
    }
  }

  /** Gives access back: to everything, or (after a per-key revokeAccess) to some keys. */
  restoreAccess(...keyNames: string[]): void {
    if (keyNames.length === 0 || !(this.#accessRevoked instanceof Set)) this.#accessRevoked = 'none';
    else for (const k of keyNames) this.#accessRevoked.delete(k);
  }

  /** From now on no token is accepted (a 401 that the challenge cannot fix) until `acceptTokens`. */
  rejectAllTokens(): void {
    this.#acceptedTokens.clear();
  }

  acceptTokens(...tokens: string[]): void {
    for (const t of tokens) this.#acceptedTokens.add(t);
  }

  fault(rule: FaultRule): void {
    this.#faults.push({ ...rule, used: 0 });
  }

  /** Removes every fault rule, or only those for one key (tests running concurrently share a vault). */
  clearFaults(key?: string): void {
    for (let i = this.#faults.length - 1; i >= 0; i--)
      if (key === undefined || this.#faults[i]?.key === key) this.#faults.splice(i, 1);
  }

  /** Requests (after the 401 challenge) for an operation, counted from the log. */
  count(op: VaultOp, key?: string): number {
    return this.requests.filter((r) => r.op === op && r.authorized && (key === undefined || r.key === key)).length;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ---- HTTP -------------------------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://vault');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const route = parseRoute(method, url.pathname);
    const entry: RequestLogEntry = {
      method,
      path: url.pathname,
      op: route.op,
      ...(route.key ? { key: route.key } : {}),
      authorized: false,
      status: 0,
    };
    this.requests.push(entry);

    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    if (token === undefined || !this.#acceptedTokens.has(token)) {
      entry.status = 401;
      res.setHeader(
        'WWW-Authenticate',
        `Bearer authorization="https://login.microsoftonline.com/${this.#tenantId}", resource="https://vault.azure.net"`,
      );
      this.#send(
        res,
        401,
        token === undefined ? undefined : { error: { code: 'Unauthorized', message: 'AKV10022: Invalid audience.' } },
      );
      return;
    }
    entry.authorized = true;

    const fault = this.#takeFault(route.op, route.key);
    if (fault) {
      switch (fault.type) {
        case 'latency':
          await new Promise((r) => setTimeout(r, fault.ms));
          break;
        case 'hang':
          entry.status = 'hang';
          return; // never answers; close() destroys the socket
        case 'reset':
          entry.status = 'reset';
          req.socket.destroy();
          return;
        case 'status': {
          entry.status = fault.status;
          for (const [k, v] of Object.entries(fault.headers ?? {})) res.setHeader(k, v);
          const code = fault.code ?? defaultCode(fault.status);
          const error: Record<string, unknown> = { code, message: fault.message ?? `${code} (injected)` };
          if (fault.innerCode) error.innererror = { code: fault.innerCode };
          this.#send(res, fault.status, { error });
          return;
        }
      }
    }

    if (
      this.#accessRevoked === 'all' ||
      (this.#accessRevoked instanceof Set && route.key !== undefined && this.#accessRevoked.has(route.key))
    ) {
      entry.status = 403;
      this.#send(res, 403, {
        error: {
          code: 'Forbidden',
          message: `The user, group or application 'appid=00000000-0000-0000-0000-000000000000' does not have keys ${route.op} permission on key vault '${this.#host}'.`,
          innererror: { code: 'AccessDenied' },
        },
      });
      return;
    }

    const [status, payload] = await this.#route(route, body);
    entry.status = status;
    this.#send(res, status, payload);
  }

  async #route(route: Route, body: Record<string, unknown>): Promise<[number, unknown]> {
    const name = route.key ?? '';
    switch (route.op) {
      case 'create': {
        const bits = Math.min(
          typeof body.key_size === 'number' ? body.key_size : this.#defaultBits,
          this.#maxCreateBits,
        );
        const kty = body.kty;
        if (kty !== 'RSA' && kty !== 'RSA-HSM') return badParameter(`unsupported key type ${String(kty)}`);
        const attributes = (body.attributes ?? {}) as { enabled?: boolean };
        const keyOps = Array.isArray(body.key_ops) ? (body.key_ops as string[]) : undefined;
        await this.createKey(name, {
          bits,
          ...(attributes.enabled === false ? { enabled: false } : {}),
          ...(keyOps ? { keyOps } : {}),
        });
        return [200, this.#bundle(name, this.#version(name)!)];
      }
      case 'get': {
        const v = this.#version(name, route.version);
        return v ? [200, this.#bundle(name, v)] : keyNotFound(name, route.version);
      }
      case 'update': {
        const v = this.#version(name, route.version);
        if (!v) return keyNotFound(name, route.version);
        const attributes = (body.attributes ?? {}) as { enabled?: boolean; exp?: number | null; nbf?: number | null };
        if (typeof attributes.enabled === 'boolean') v.enabled = attributes.enabled;
        if (typeof attributes.exp === 'number') v.exp = attributes.exp;
        if (typeof attributes.nbf === 'number') v.nbf = attributes.nbf;
        if (Array.isArray(body.key_ops)) v.keyOps = body.key_ops as string[];
        v.updated = Math.floor(Date.now() / 1000);
        return [200, this.#bundle(name, v)];
      }
      case 'delete': {
        const record = this.#keys.get(name);
        const latest = this.#version(name);
        if (!record || !latest) return keyNotFound(name);
        record.deleted = Math.floor(Date.now() / 1000);
        return [200, this.#deletedBundle(name, record, latest)];
      }
      case 'getDeleted': {
        const record = this.#keys.get(name);
        const latest = record?.versions[record.versions.length - 1];
        if (!record || record.deleted === undefined || !latest) {
          return [404, { error: { code: 'KeyNotFound', message: `Deleted Key not found: ${name}` } }];
        }
        return [200, this.#deletedBundle(name, record, latest)];
      }
      case 'purgeDeleted': {
        // Purge: the key (every version, private keys included) leaves the vault for good.
        const record = this.#keys.get(name);
        if (!record || record.deleted === undefined)
          return [404, { error: { code: 'KeyNotFound', message: `Deleted Key not found: ${name}` } }];
        this.#keys.delete(name);
        return [204, undefined];
      }
      case 'versions': {
        const record = this.#keys.get(name);
        if (!record || record.deleted !== undefined) return keyNotFound(name);
        return [
          200,
          {
            value: record.versions.map((v) => ({ kid: this.keyId(name, v.version), attributes: this.#attributes(v) })),
            nextLink: null,
          },
        ];
      }
      case 'wrapkey':
      case 'unwrapkey': {
        const v = this.#version(name, route.version);
        if (!v) return keyNotFound(name, route.version);
        const alg = body.alg;
        const hash = alg === 'RSA-OAEP-256' ? 'sha256' : alg === 'RSA-OAEP' ? 'sha1' : undefined;
        if (!hash) return badParameter(`Invalid algorithm ${String(alg)}`);
        const op = route.op === 'wrapkey' ? 'wrapKey' : 'unwrapKey';
        if (!v.keyOps.includes(op))
          return [
            403,
            {
              error: {
                code: 'Forbidden',
                message: `Operation ${op} is not allowed on this key.`,
                innererror: { code: 'KeyOperationForbidden' },
              },
            },
          ];
        if (route.op === 'unwrapkey' && !v.enabled) {
          return [
            403,
            {
              error: {
                code: 'Forbidden',
                message: 'Operation unwrapKey is not allowed on a disabled key.',
                innererror: { code: 'KeyDisabled' },
              },
            },
          ];
        }
        const value = typeof body.value === 'string' ? Buffer.from(body.value, 'base64url') : undefined;
        if (!value) return badParameter('value is required');
        const params = { key: v.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash };
        let out: Buffer;
        try {
          out = route.op === 'wrapkey' ? publicEncrypt(params, value) : privateDecrypt(params, value);
        } catch {
          return badParameter('Invalid ciphertext or key');
        }
        return [200, { kid: this.keyId(name, v.version), value: out.toString('base64url') }];
      }
      default:
        return [
          400,
          {
            error: {
              code: 'BadParameter',
              message: 'The request URI contains an invalid name or an unsupported operation',
            },
          },
        ];
    }
  }

  #version(name: string, version?: string): KeyVersion | undefined {
    const record = this.#keys.get(name);
    if (!record || record.deleted !== undefined) return undefined;
    if (version === undefined || version === '') return record.versions[record.versions.length - 1];
    return record.versions.find((v) => v.version === version);
  }

  #attributes(v: KeyVersion): Record<string, unknown> {
    return {
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable',
      recoverableDays: 90,
      ...(v.exp !== undefined ? { exp: v.exp } : {}),
      ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    };
  }

  #bundle(name: string, v: KeyVersion): Record<string, unknown> {
    return {
      key: { kid: this.keyId(name, v.version), kty: 'RSA', key_ops: v.keyOps, n: v.jwk.n, e: v.jwk.e },
      attributes: this.#attributes(v),
    };
  }

  #deletedBundle(name: string, record: KeyRecord, v: KeyVersion): Record<string, unknown> {
    const deleted = record.deleted ?? Math.floor(Date.now() / 1000);
    return {
      ...this.#bundle(name, v),
      recoveryId: `${this.url}/deletedkeys/${name}`,
      deletedDate: deleted,
      scheduledPurgeDate: deleted + 90 * 86400,
    };
  }

  #takeFault(op: VaultOp, key: string | undefined): FaultAction | undefined {
    for (const rule of this.#faults) {
      if (rule.ops && !rule.ops.includes(op)) continue;
      if (rule.key !== undefined && rule.key !== key) continue;
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      rule.used++;
      return rule.action;
    }
    return undefined;
  }

  #send(res: ServerResponse, status: number, payload: unknown): void {
    const text = payload === undefined ? '' : JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-ms-keyvault-service-version': 'fake',
    });
    res.end(text);
  }
}

interface Route {
  op: VaultOp;
  key?: string;
  version?: string;
}

/** Maps a Key Vault REST path to an operation. */
function parseRoute(method: string, path: string): Route {
  const parts = path.split('/').slice(1); // ['keys', name, version?, action?]
  if (parts[0] === 'deletedkeys' && parts[1] && method === 'GET') return { op: 'getDeleted', key: parts[1] };
  if (parts[0] === 'deletedkeys' && parts[1] && method === 'DELETE') return { op: 'purgeDeleted', key: parts[1] };
  if (parts[0] !== 'keys' || !parts[1]) return { op: 'other' };
  const key = decodeURIComponent(parts[1]);
  const rest = parts.slice(2);
  if (rest[0] === 'create' && method === 'POST') return { op: 'create', key };
  if (rest[0] === 'versions' && method === 'GET') return { op: 'versions', key };
  if (rest.length === 2 && (rest[1] === 'wrapkey' || rest[1] === 'unwrapkey') && method === 'POST')
    return { op: rest[1], key, version: rest[0] };
  if (rest.length <= 1) {
    const version = rest[0] || undefined;
    if (method === 'GET') return { op: 'get', key, ...(version ? { version } : {}) };
    if (method === 'PATCH') return { op: 'update', key, ...(version ? { version } : {}) };
    if (method === 'DELETE' && !version) return { op: 'delete', key };
  }
  return { op: 'other', key };
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function keyNotFound(name: string, version?: string): [number, unknown] {
  const what = version ? `${name}/${version}` : name;
  return [
    404,
    {
      error: {
        code: 'KeyNotFound',
        message: `A key with (name/id) ${what} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.`,
      },
    },
  ];
}

function badParameter(message: string): [number, unknown] {
  return [400, { error: { code: 'BadParameter', message } }];
}

function defaultCode(status: number): string {
  switch (status) {
    case 400:
      return 'BadParameter';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'KeyNotFound';
    case 409:
      return 'Conflict';
    case 429:
      return 'Throttled';
    case 500:
      return 'InternalServerError';
    case 502:
      return 'BadGateway';
    case 503:
      return 'ServiceUnavailable';
    default:
      return 'Error';
  }
}

/** A TokenCredential (@azure/core-auth's shape) that returns a fixed token and counts its calls. */
export function fakeCredential(token = 'test-token'): {
  getToken: () => Promise<{ token: string; expiresOnTimestamp: number }>;
  calls: number;
} {
  const cred = {
    calls: 0,
    async getToken() {
      cred.calls++;
      return { token, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
  return cred;
}

/**
 * An https.Agent that trusts the test CA and connects every host name to 127.0.0.1 (its `lookup` never asks
 * DNS), so clients can use real-looking vault URLs such as https://contoso-a.vault.azure.net:<port> and
 * keep the SDK's challenge-resource check on.
 */
export function loopbackAgent(ca: string): Agent {
  type LookupCallback = (
    err: Error | null,
    address: string | Array<{ address: string; family: number }>,
    family?: number,
  ) => void;
  const lookup = (_host: string, options: { all?: boolean } | LookupCallback, cb?: LookupCallback): void => {
    const callback = (typeof options === 'function' ? options : cb) as LookupCallback;
    const all = typeof options === 'object' && options.all === true;
    if (all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  };
  return new Agent({ ca, keepAlive: true, lookup: lookup as never });
}
