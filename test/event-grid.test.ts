import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { KeyCache } from '../src/cache/key-cache.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { silentLogger } from '../src/log/logger.js';
import type { KeyStatus, RootKeyProvider } from '../src/providers/root-key-provider.js';
import type { PolicyRecord } from '../src/registry/policy.js';
import type { PolicyRegistry } from '../src/registry/policy-registry.js';
import { parseDelivery, vaultFromResourceId } from '../src/revocation/event-grid-events.js';
import { vaultKeyOf } from '../src/revocation/event-grid-recheck.js';
import { EventGridReceiver } from '../src/revocation/event-grid-server.js';
import type { RevocationEvent } from '../src/revocation/revocation-source.js';
import { fakeCopies, makePolicyRecord } from './helpers/policy-fixture.js';

const SECRET = 'an-event-grid-shared-secret-0123456789';
const VAULT = 'https://contoso-kv.vault.azure.net/keys';
const TOPIC =
  '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/contoso-kv';

/** A policy whose customer keys live in Azure Key Vault `contoso-kv` (key names per policy) or another vault. */
function azurePolicy(id: string, keyA: string, keyB: string, vault = VAULT): PolicyRecord {
  const keys = {
    'customer-a': `${vault}/${keyA}/aaaa0001`,
    'customer-b': `${vault}/${keyB}/bbbb0001`,
    availability: 'local:availability/1',
  };
  return makePolicyRecord({
    tenant: 'contoso',
    id,
    keys,
    versions: [{ version: 1, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys) }],
  });
}

interface Harness {
  url: string;
  receiver: EventGridReceiver;
  cache: KeyCache;
  statusCalls: string[];
  revoked: RevocationEvent[];
  /** Key URIs the fake vault reports revoked. */
  revokedKeys: Set<string>;
}

async function setup(
  t: ExecutionContext,
  opts: { maxBodyBytes?: number; statusDelayMs?: number } = {},
): Promise<Harness> {
  const policies = [
    azurePolicy('mbx-1', 'cust-a', 'cust-b'),
    azurePolicy('mbx-2', 'other-a', 'other-b'),
    azurePolicy('mbx-3', 'cust-a', 'x-b', 'https://elsewhere.vault.azure.net/keys'),
  ];
  const registry = {
    get: (tenant: string, id: string) => policies.find((p) => p.tenant === tenant && p.id === id),
    list: () => policies,
  } as unknown as PolicyRegistry;
  const cache = new KeyCache({ maxEntries: 100, maxAgeMs: 60_000 });
  for (const p of policies) {
    await cache.get(
      p.tenant,
      p.id,
      1,
      async () => ({
        tenant: p.tenant,
        policyId: p.id,
        version: 1,
        kek: SecretKey.copyFrom(randomBytes(32)),
        sourceRole: 'customer-a',
        keyId: p.id,
      }),
      AbortSignal.timeout(1000),
    );
  }
  const statusCalls: string[] = [];
  const revokedKeys = new Set<string>();
  const provider: RootKeyProvider = {
    schemes: ['https'],
    resolve: () => Promise.reject(new Error('unused')),
    wrap: () => Promise.reject(new Error('unused')),
    unwrap: () => Promise.reject(new Error('unused')),
    async status(uri): Promise<KeyStatus> {
      statusCalls.push(uri);
      if (opts.statusDelayMs) await new Promise((r) => setTimeout(r, opts.statusDelayMs));
      return revokedKeys.has(uri)
        ? { uri, usable: false, kind: 'revoked', reason: 'key disabled' }
        : { uri, usable: true };
    },
    close: async () => {},
  };
  const revoked: RevocationEvent[] = [];
  const receiver = new EventGridReceiver({
    listen: '127.0.0.1:0',
    secret: SECRET,
    maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024,
    registry,
    cache,
    provider,
    providerTimeoutMs: 2_000,
    log: silentLogger,
  });
  await receiver.start((e) => {
    revoked.push(e);
    cache.evictPolicy(e.tenant, e.policyId);
  });
  t.teardown(() => receiver.stop());
  return { url: receiver.url, receiver, cache, statusCalls, revoked, revokedKeys };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  url: string,
  opts: { method?: string; code?: string | null; headers?: Record<string, string>; body?: string | Buffer },
): Promise<Reply> {
  const target = new URL(url);
  if (opts.code !== null) target.searchParams.set('code', opts.code ?? SECRET);
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: opts.method ?? 'POST', headers: { 'content-type': 'application/json', ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const keyEvent = (id: string, type: string, keyName: string, schema: 'eventgrid' | 'cloudevents' = 'eventgrid') => {
  const data = {
    Id: `${VAULT}/${keyName}/cccc0002`,
    VaultName: 'contoso-kv',
    ObjectType: 'Key',
    ObjectName: keyName,
    Version: 'cccc0002',
    NBF: '1559081980',
    EXP: '1559082102',
  };
  return schema === 'eventgrid'
    ? {
        id,
        topic: TOPIC,
        subject: keyName,
        eventType: type,
        eventTime: '2025-01-01T00:00:00Z',
        data,
        dataVersion: '1',
        metadataVersion: '1',
      }
    : { id, source: TOPIC, subject: keyName, type, time: '2025-01-01T00:00:00Z', data, specversion: '1.0' };
};

const cached = (h: Harness) =>
  h.cache
    .entries()
    .map((e) => e.policyId)
    .sort();

test('Event Grid schema: the subscription validation handshake echoes the code', async (t) => {
  const h = await setup(t);
  const body = JSON.stringify([
    {
      id: '2d1781af-3a4c-4d7c-bd0c-e34b19da4e66',
      topic: TOPIC,
      subject: '',
      data: {
        validationCode: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6',
        validationUrl: 'https://example.invalid/validate',
      },
      eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
      eventTime: '2025-01-01T00:00:00Z',
      metadataVersion: '1',
      dataVersion: '1',
    },
  ]);
  const res = await send(h.url, { body, headers: { 'aeg-event-type': 'SubscriptionValidation' } });
  t.is(res.status, 200);
  t.deepEqual(JSON.parse(res.body), { validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' });
});

test('CloudEvents: the OPTIONS abuse-protection handshake allows the requesting origin', async (t) => {
  const h = await setup(t);
  const res = await send(h.url, { method: 'OPTIONS', headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' } });
  t.is(res.status, 200);
  t.is(res.headers['webhook-allowed-origin'], 'eventgrid.azure.net');
  t.is((await send(h.url, { method: 'OPTIONS' })).status, 400, 'no WebHook-Request-Origin');
  t.is(
    (await send(h.url, { method: 'OPTIONS', code: null, headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' } }))
      .status,
    401,
    'the handshake needs the secret too',
  );
});

test('a valid KeyNewVersionCreated event re-checks the named key at once and evicts the policies whose key is revoked', async (t) => {
  const h = await setup(t);
  h.revokedKeys.add(`${VAULT}/cust-a/aaaa0001`);
  const res = await send(h.url, {
    body: JSON.stringify([keyEvent('evt-1', 'Microsoft.KeyVault.KeyNewVersionCreated', 'cust-a')]),
  });
  t.is(res.status, 200);
  t.like(JSON.parse(res.body), { accepted: 1, duplicates: 0 });
  // Only the key in that vault with that name was asked about; the same key name in another vault was not.
  t.deepEqual(h.statusCalls, [`${VAULT}/cust-a/aaaa0001`]);
  t.deepEqual(cached(h), ['mbx-2', 'mbx-3']);
  t.is(h.revoked.length, 1);
  t.like(h.revoked[0], { tenant: 'contoso', policyId: 'mbx-1', source: 'event-grid' });
  t.is(h.receiver.state().state, 'connected');
  t.is(h.receiver.state().lastSequence, 1);
});

test('a key that is still usable is re-checked but nothing is evicted', async (t) => {
  const h = await setup(t);
  const res = await send(h.url, {
    body: JSON.stringify([keyEvent('evt-ok', 'Microsoft.KeyVault.KeyExpired', 'other-b')]),
  });
  t.is(res.status, 200);
  t.deepEqual(h.statusCalls, [`${VAULT}/other-b/bbbb0001`]);
  t.deepEqual(cached(h), ['mbx-1', 'mbx-2', 'mbx-3']);
});

test('CloudEvents schema (a batch): VaultAccessPolicyChanged re-checks every cached key of that vault', async (t) => {
  const h = await setup(t);
  h.revokedKeys.add(`${VAULT}/other-b/bbbb0001`);
  const event = {
    id: 'evt-vault',
    source: TOPIC,
    subject: 'contoso-kv',
    type: 'Microsoft.KeyVault.VaultAccessPolicyChanged',
    time: '2025-01-01T00:00:00Z',
    specversion: '1.0',
    data: {
      Id: 'https://contoso-kv.vault.azure.net',
      VaultName: 'contoso-kv',
      ObjectType: 'Vault',
      ObjectName: 'contoso-kv',
      Version: null,
    },
  };
  const res = await send(h.url, {
    body: JSON.stringify([event]),
    headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
  });
  t.is(res.status, 200);
  t.deepEqual([...h.statusCalls].sort(), [
    `${VAULT}/cust-a/aaaa0001`,
    `${VAULT}/cust-b/bbbb0001`,
    `${VAULT}/other-a/aaaa0001`,
    `${VAULT}/other-b/bbbb0001`,
  ]);
  t.deepEqual(cached(h), ['mbx-1', 'mbx-3']);
});

test('a duplicate delivery is acknowledged and not processed again, also when both arrive at once', async (t) => {
  const h = await setup(t, { statusDelayMs: 100 });
  h.revokedKeys.add(`${VAULT}/cust-a/aaaa0001`);
  const body = JSON.stringify([
    keyEvent('evt-dup', 'Microsoft.KeyVault.KeyNewVersionCreated', 'cust-a', 'cloudevents'),
  ]);
  const [first, second] = await Promise.all([send(h.url, { body }), send(h.url, { body })]);
  t.is(first.status, 200);
  t.is(second.status, 200);
  const third = await send(h.url, { body });
  t.is(third.status, 200);
  t.like(JSON.parse(third.body), { accepted: 0, duplicates: 1 });
  t.is(h.statusCalls.length, 1, 'one re-check for three deliveries of one event');
  t.is(h.revoked.length, 1);
  t.is(h.receiver.stats.duplicates, 2);
});

test('a forged delivery (no secret, a wrong one of the same length, a wrong header) is refused with 401 and does nothing', async (t) => {
  const h = await setup(t);
  h.revokedKeys.add(`${VAULT}/cust-a/aaaa0001`);
  const body = JSON.stringify([keyEvent('evt-forged', 'Microsoft.KeyVault.KeyNewVersionCreated', 'cust-a')]);
  const wrong = SECRET.slice(0, -1) + (SECRET.endsWith('x') ? 'y' : 'x');
  t.is((await send(h.url, { body, code: null })).status, 401);
  t.is((await send(h.url, { body, code: wrong })).status, 401);
  t.is((await send(h.url, { body, code: null, headers: { 'X-Unwrapd-Secret': wrong } })).status, 401);
  t.deepEqual(h.statusCalls, []);
  t.deepEqual(cached(h), ['mbx-1', 'mbx-2', 'mbx-3']);
  // The right secret in the header is accepted.
  t.is((await send(h.url, { body, code: null, headers: { 'X-Unwrapd-Secret': SECRET } })).status, 200);
  t.deepEqual(cached(h), ['mbx-2', 'mbx-3']);
});

test('an oversized delivery gets 413 without being processed; malformed ones get 400', async (t) => {
  const h = await setup(t, { maxBodyBytes: 4096 });
  const big = JSON.stringify([
    { ...keyEvent('evt-big', 'Microsoft.KeyVault.KeyNewVersionCreated', 'cust-a'), padding: 'x'.repeat(8192) },
  ]);
  t.is((await send(h.url, { body: big })).status, 413);
  // Chunked (no Content-Length): the limit holds while reading.
  const chunked = await new Promise<number>((resolve, reject) => {
    const target = new URL(h.url);
    target.searchParams.set('code', SECRET);
    const req = request(
      target,
      { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    for (let i = 0; i < 8; i++) req.write(Buffer.alloc(1024, 0x20));
    req.end();
  });
  t.is(chunked, 413);
  t.is((await send(h.url, { body: '{"not json' })).status, 400);
  t.is((await send(h.url, { body: '[]' })).status, 400);
  t.is(
    (await send(h.url, { body: JSON.stringify([{ eventType: 'Microsoft.KeyVault.KeyExpired', data: {} }]) })).status,
    400,
    'no id',
  );
  t.is((await send(h.url, { method: 'GET' })).status, 405);
  t.is((await send(`${h.url}/other`, {})).status, 404);
  t.deepEqual(h.statusCalls, []);
});

test('events the webhook does not act on are acknowledged and ignored', async (t) => {
  const h = await setup(t);
  const secretEvent = {
    ...keyEvent('evt-secret', 'Microsoft.KeyVault.SecretNewVersionCreated', 'newsecret'),
    data: { VaultName: 'contoso-kv', ObjectType: 'Secret', ObjectName: 'newsecret' },
  };
  const res = await send(h.url, { body: JSON.stringify([secretEvent]) });
  t.is(res.status, 200);
  t.like(JSON.parse(res.body), { accepted: 0, ignored: 1 });
  t.deepEqual(h.statusCalls, []);
});

test('parsing: both spellings of the data fields, the vault from the topic, Azure key URIs', (t) => {
  const camel = parseDelivery([
    {
      id: 'a',
      topic: TOPIC,
      eventType: 'Microsoft.KeyVault.KeyExpired',
      data: { vaultName: 'Contoso-KV', objectType: 'Key', objectName: 'k1', version: 'v1' },
    },
  ]);
  t.like(camel, {
    kind: 'events',
    events: [{ vaultName: 'contoso-kv', keyName: 'k1', version: 'v1', schema: 'eventgrid' }],
  });
  const fromTopic = parseDelivery({
    id: 'b',
    source: TOPIC,
    type: 'Microsoft.KeyVault.VaultAccessPolicyChanged',
    specversion: '1.0',
    data: {},
  });
  t.like(fromTopic, { kind: 'events', events: [{ vaultName: 'contoso-kv', schema: 'cloudevents' }] });
  t.is(vaultFromResourceId(TOPIC), 'contoso-kv');
  t.deepEqual(vaultKeyOf('https://Contoso-KV.vault.azure.net/keys/Key-1/abc'), {
    vaultName: 'contoso-kv',
    keyName: 'key-1',
  });
  t.deepEqual(vaultKeyOf('https://hsm1.managedhsm.azure.net/keys/k'), { vaultName: 'hsm1', keyName: 'k' });
  t.is(vaultKeyOf('local:name/1'), undefined);
  t.throws(() =>
    parseDelivery([{ id: 'c', eventType: 'Microsoft.KeyVault.KeyExpired', data: { VaultName: 'bad vault!' } }]),
  );
});
