import { loggableError } from '../errors.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { DeliveryError, parseDelivery, type KeyVaultEvent } from './event-grid-events.js';
import { recheckKeys, type RecheckDeps, type RecheckResult } from './event-grid-recheck.js';
import type { RevocationEvent, RevocationSource, RevocationSourceState } from './revocation-source.js';

/**
 * The Event Grid webhook: Key Vault tells unwrapd that a key changed, unwrapd re-checks the keys at once
 * (src/revocation/event-grid-recheck.ts) and evicts policies whose customer key is now revoked.
 *
 *   POST    <path>   deliveries (Event Grid schema or CloudEvents 1.0), and the Event Grid validation handshake
 *   OPTIONS <path>   the CloudEvents abuse-protection handshake (WebHook-Request-Origin -> WebHook-Allowed-Origin)
 *
 * Every request must carry the shared secret: `?code=<secret>` in the URL (put it in the subscription's
 * endpoint URL) or the `X-Unwrapd-Secret` header (an Event Grid delivery property). Compared in constant
 * time. Bodies over `maxBodyBytes` get 413 without being read. Each event id is processed once: a
 * redelivery (Event Grid retries until it gets a 2xx) is acknowledged and not acted on again; an id whose
 * processing failed is not remembered, so the retry processes it.
 *
 * Plain HTTP: in production put it behind the ingress that terminates TLS (Event Grid requires HTTPS).
 */
export interface EventGridOptions extends RecheckDeps {
  /** host:port (port 0 picks one). */
  listen: string;
  secret: string;
  maxBodyBytes: number;
  /** Default "/eventgrid". */
  path?: string;
  /** Event ids remembered for duplicate detection. Default 10,000. */
  dedupeCapacity?: number;
  log: Logger;
}

export interface EventGridStats {
  deliveries: number;
  events: number;
  duplicates: number;
  ignored: number;
  rejected: number;
  evictions: number;
}

export class EventGridReceiver implements RevocationSource {
  readonly name = 'event-grid';
  readonly stats: EventGridStats = { deliveries: 0, events: 0, duplicates: 0, ignored: 0, rejected: 0, evictions: 0 };
  readonly #opts: EventGridOptions;
  readonly #path: string;
  readonly #secretDigest: Buffer;
  /** Processed event ids, oldest first (a bounded set). */
  readonly #done = new Map<string, true>();
  /** Event ids being processed: a concurrent duplicate waits for the same outcome. */
  readonly #inflight = new Map<string, Promise<void>>();
  #server: Server | undefined;
  #onRevoked: ((event: RevocationEvent) => void) | undefined;
  #lastEventAt: string | undefined;
  #address = '';

  constructor(opts: EventGridOptions) {
    this.#opts = opts;
    this.#path = opts.path ?? '/eventgrid';
    this.#secretDigest = digest(opts.secret);
  }

  /** http://host:port<path>, once started. */
  get url(): string {
    return `http://${this.#address}${this.#path}`;
  }

  async start(onRevoked: (event: RevocationEvent) => void): Promise<void> {
    if (this.#server) return;
    this.#onRevoked = onRevoked;
    const { host, port } = splitHostPort(this.#opts.listen);
    const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#opts.log.error('event grid: request failed', { error: loggableError(err) });
        if (!res.headersSent) reply(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    this.#address = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
    this.#server = server;
    this.#opts.log.info('event grid webhook listening', { url: this.url });
  }

  state(): RevocationSourceState {
    return {
      state: this.#server ? 'connected' : 'none',
      lastSequence: this.stats.events,
      ...(this.#lastEventAt ? { lastEventAt: this.#lastEventAt } : {}),
    };
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://webhook');
    if (url.pathname !== this.#path) return reply(res, 404, { error: 'not found' });
    if (req.method !== 'POST' && req.method !== 'OPTIONS') {
      res.setHeader('Allow', 'POST, OPTIONS');
      return reply(res, 405, { error: 'method not allowed' });
    }
    if (!this.#authenticated(req, url)) {
      this.stats.rejected++;
      this.#opts.log.warn('event grid: request without the shared secret refused', {
        method: req.method,
        remote: req.socket.remoteAddress,
      });
      return reply(res, 401, { error: 'unauthorized' });
    }
    if (req.method === 'OPTIONS') {
      // CloudEvents 1.0 abuse protection: allow the origin that asks (it proved it knows the secret).
      const origin = req.headers['webhook-request-origin'];
      if (typeof origin !== 'string' || origin.length === 0 || origin.length > 256)
        return reply(res, 400, { error: 'WebHook-Request-Origin is required' });
      res.setHeader('WebHook-Allowed-Origin', origin);
      res.setHeader('WebHook-Allowed-Rate', '*');
      res.setHeader('Allow', 'POST, OPTIONS');
      res.writeHead(200).end();
      return;
    }
    const body = await readBody(req, this.#opts.maxBodyBytes);
    if (body === 'too-large') {
      this.stats.rejected++;
      return reply(res, 413, { error: `body larger than ${this.#opts.maxBodyBytes} bytes` });
    }
    let parsed;
    try {
      parsed = parseDelivery(JSON.parse(body.toString('utf8')));
    } catch (err) {
      this.stats.rejected++;
      const why = err instanceof DeliveryError ? err.message : 'body is not valid JSON';
      return reply(res, 400, { error: why });
    }
    this.stats.deliveries++;
    if (parsed.kind === 'validation') {
      this.#opts.log.info('event grid: subscription validation handshake answered');
      return reply(res, 200, { validationResponse: parsed.validationCode });
    }
    this.stats.ignored += parsed.ignored;
    const fresh: KeyVaultEvent[] = [];
    const waits: Promise<void>[] = [];
    const seenHere = new Set<string>();
    for (const e of parsed.events) {
      const id = `${e.source}\n${e.id}`;
      if (this.#done.has(id) || seenHere.has(id)) {
        this.stats.duplicates++;
        continue;
      }
      const running = this.#inflight.get(id);
      if (running) {
        this.stats.duplicates++;
        waits.push(running);
        continue;
      }
      seenHere.add(id);
      fresh.push(e);
    }
    if (fresh.length > 0) {
      const work = this.#process(fresh);
      const ids = fresh.map((e) => `${e.source}\n${e.id}`);
      for (const id of ids)
        this.#inflight.set(
          id,
          work.then(() => {}),
        );
      try {
        const result = await work;
        for (const id of ids) this.#remember(id);
        this.stats.events += fresh.length;
        this.#lastEventAt = new Date().toISOString();
        this.#opts.log.info('event grid: key vault events re-checked', {
          events: fresh.map((e) => `${e.type} ${e.vaultName}/${e.keyName ?? '*'}`),
          keys_checked: result.checked.length,
          policies_evicted: result.revoked.length,
        });
      } finally {
        for (const id of ids) this.#inflight.delete(id);
      }
    }
    await Promise.allSettled(waits);
    return reply(res, 200, {
      accepted: fresh.length,
      duplicates: parsed.events.length - fresh.length,
      ignored: parsed.ignored,
    });
  }

  async #process(events: KeyVaultEvent[]): Promise<RecheckResult> {
    const result = await recheckKeys(events, this.#opts);
    for (const r of result.revoked) {
      this.stats.evictions++;
      this.#opts.log.warn('event grid: customer key revoked; policy keys evicted', {
        tenant: r.tenant,
        policy: r.policyId,
        key_uri: r.keyUri,
        reason: r.reason,
      });
      this.#onRevoked?.({
        tenant: r.tenant,
        policyId: r.policyId,
        reason: `customer key ${r.keyUri}: ${r.reason}`,
        source: this.name,
      });
    }
    return result;
  }

  #remember(id: string): void {
    this.#done.set(id, true);
    const cap = this.#opts.dedupeCapacity ?? 10_000;
    while (this.#done.size > cap) {
      const oldest = this.#done.keys().next().value;
      if (oldest === undefined) break;
      this.#done.delete(oldest);
    }
  }

  #authenticated(req: IncomingMessage, url: URL): boolean {
    const header = req.headers['x-unwrapd-secret'];
    const presented = url.searchParams.get('code') ?? (typeof header === 'string' ? header : undefined);
    if (presented === undefined || presented === null) return false;
    // Digests first: equal lengths for timingSafeEqual, and the secret's length does not leak.
    return timingSafeEqual(digest(presented), this.#secretDigest);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  // A refused request's body is not wanted: close the connection rather than keep reading it.
  if (status === 413 || status === 401) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

/** The body, or 'too-large' as soon as it (or its declared length) passes `max`; a large body is not read. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        chunks.length = 0;
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!done) reject(err);
    });
  });
}

function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`event grid listen address must be host:port, got "${listen}"`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) };
}
