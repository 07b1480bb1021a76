import * as grpc from '@grpc/grpc-js';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { providerError } from '../src/providers/provider-error.js';
import { silentLogger } from '../src/log/logger.js';
import type { RegistryChangeFeed } from '../src/registry/change-feed.js';
import type { PolicyEvent } from '../src/registry/policy-events.js';
import { feedRevocationSource } from '../src/revocation/feed-source.js';
import type { RevocationEvent, RevocationSource } from '../src/revocation/revocation-source.js';
import { createTelemetry } from '../src/telemetry/create-telemetry.js';
import { VERSION } from '../src/version.js';
import { lenField, rawClient, rawUnary } from './helpers/proto-wire.js';
import { startTestDaemon, createPolicy, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Telemetry on a real daemon: real gRPC over its sockets, the real HTTP endpoint, the OpenTelemetry SDK with
 * an in-memory span exporter. Metrics are checked by their exact counts after known calls.
 */

async function get(address: string, path: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** `name{labels} value` lines as a map (labels as written). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(d: TestDaemon): Promise<{ text: string; m: Map<string, number> }> {
  const res = await get(d.daemon.metricsAddress!, '/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return { text: res.body, m: parseMetrics(res.body) };
}

/** Every form in which `bytes` could leak: hex (either case), base64, base64url. */
function forms(bytes: Buffer): string[] {
  return [
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    bytes.toString('base64'),
    bytes.toString('base64url'),
  ];
}

function occurrences(haystack: string, secrets: Buffer[]): number {
  let n = 0;
  for (const s of secrets) for (const f of forms(s)) if (haystack.includes(f)) n++;
  return n;
}

function attributesText(spans: readonly ReadableSpan[]): string {
  return JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status })));
}

const withTraces = (ratio: number) => {
  const exporter = new InMemorySpanExporter();
  return {
    exporter,
    hooks: { spanProcessors: [new SimpleSpanProcessor(exporter)] },
    overrides: { metricsListen: '127.0.0.1:0', traceSampleRatio: ratio },
  };
};

test('a scrape after a few calls shows each metric with its count, and no payload or key bytes', async (t) => {
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0' });
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'tm-counts');
  const before = d.daemon.cache.stats();
  const plaintext = randomBytes(1000);
  const envelopes: Buffer[] = [];
  for (let i = 0; i < 3; i++)
    envelopes.push((await d.client.encrypt({ tenant: 'demo', policyId: 'tm-counts', plaintext })).envelope!);
  for (const envelope of envelopes.slice(0, 2)) await d.client.decrypt({ tenant: 'demo', envelope });
  await t.throwsAsync(d.client.decrypt({ tenant: 'demo', envelope: Buffer.from('not an envelope') }));
  await d.client.revoke({ tenant: 'demo', id: 'tm-counts' });

  const { text, m } = await scrape(d);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="Encrypt",code="OK"}'), 3);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="Decrypt",code="OK"}'), 2);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="Decrypt",code="INVALID_ARGUMENT"}'), 1);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="Revoke",code="OK"}'), 1);
  // One miss (the first Encrypt), then hits: 2 Encrypts and 2 Decrypts.
  t.is(m.get('unwrapd_cache_misses_total')! - before.misses, 1);
  t.is(m.get('unwrapd_cache_hits_total')! - before.hits, 4);
  t.is(m.get('unwrapd_cache_entries'), d.daemon.cache.stats().entries);
  t.is(m.get('unwrapd_cache_evictions_total{reason="policy"}'), 1, 'the revoke evicted the one key');
  t.is(m.get('unwrapd_revocations_applied_total{source="registry"}'), 1);
  const unwraps = [...m].filter(([k]) =>
    k.startsWith('unwrapd_provider_calls_total{provider="local",operation="unwrap"'),
  );
  t.is(
    unwraps.reduce((a, [, v]) => a + v, 0),
    d.provider.counts.unwrap,
  );
  t.true((m.get('unwrapd_provider_calls_total{provider="local",operation="unwrap",outcome="ok"}') ?? 0) >= 1);
  t.is(
    m.get('unwrapd_provider_duration_seconds_count{provider="local",operation="unwrap",outcome="ok"}'),
    m.get('unwrapd_provider_calls_total{provider="local",operation="unwrap",outcome="ok"}'),
  );
  t.is(m.get('unwrapd_bytes_processed_total{method="Encrypt",direction="in"}'), 3000);
  t.is(
    m.get('unwrapd_bytes_processed_total{method="Encrypt",direction="out"}'),
    envelopes.reduce((a, e) => a + e.length, 0),
  );
  t.is(m.get('unwrapd_bytes_processed_total{method="Decrypt",direction="out"}'), 2000);
  t.is(m.get('unwrapd_streams_in_flight'), 0);
  t.is(m.get('unwrapd_batches_in_flight'), 0);
  t.is(m.get('unwrapd_feed_state{state="none"}'), 1);
  t.is(m.get('unwrapd_feed_state{state="deaf"}'), 0);
  t.is(m.get(`unwrapd_build_info{version="${VERSION}"}`), 1);
  t.is(m.get('unwrapd_availability_key_uses_total'), undefined, 'none yet');
  // No payload, no envelope, no key: 0 occurrences in any form.
  const secrets = [plaintext, ...envelopes, plaintext.subarray(0, 16)];
  t.is(occurrences(text, secrets), 0);
  t.false(/tm-counts|demo-customer/.test(text), 'no policy id, no key id as a label');
});

test('calls refused at the wire, before any handler, are counted by method and code', async (t) => {
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0', maxBlockBytes: 4096 });
  t.teardown(() => d.stop());
  const raw = rawClient(d.daemon.address);
  t.teardown(() => raw.close());
  const tenant = lenField(1, 'demo');
  // Over Encrypt's limit: refused at the length prefix. An unknown field: refused by the scan.
  const oversized = await rawUnary(
    raw,
    '/unwrapd.v1.Crypto/Encrypt',
    Buffer.concat([tenant, lenField(2, 'demo-mailbox'), lenField(3, Buffer.alloc(4096 + 128 * 1024))]),
  );
  t.is(oversized.code, grpc.status.RESOURCE_EXHAUSTED);
  const malformed = await rawUnary(raw, '/unwrapd.v1.Crypto/Decrypt', Buffer.concat([tenant, lenField(9, 'x')]));
  t.is(malformed.code, grpc.status.INVALID_ARGUMENT);
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  const { m } = await scrape(d);
  t.is(m.get('unwrapd_rpc_refused_total{method="Encrypt",code="RESOURCE_EXHAUSTED"}'), 1);
  t.is(m.get('unwrapd_rpc_refused_total{method="Decrypt",code="INVALID_ARGUMENT"}'), 1);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="Encrypt",code="OK"}'), 1, 'an accepted call: the histogram');
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="Encrypt",code="RESOURCE_EXHAUSTED"}'), undefined);
});

test('streams and batches: their bytes and calls are counted, and none is left in flight', async (t) => {
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0' });
  t.teardown(() => d.stop());
  const content = randomBytes(200_000);
  const chunks: Buffer[] = [];
  for await (const b of d.client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, [content]))
    chunks.push(Buffer.from(b));
  const envelope = Buffer.concat(chunks);
  const opened: Buffer[] = [];
  for await (const b of d.client.decryptStream({ tenant: 'demo' }, [envelope])) opened.push(Buffer.from(b));
  t.true(Buffer.concat(opened).equals(content));
  const items = [randomBytes(10), randomBytes(20)].map((plaintext) => ({ plaintext }));
  await d.client.encryptBatch({ tenant: 'demo', policyId: 'demo-mailbox', items });
  const { text, m } = await scrape(d);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="EncryptStream",code="OK"}'), 1);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="DecryptStream",code="OK"}'), 1);
  t.is(m.get('unwrapd_rpc_duration_seconds_count{method="EncryptBatch",code="OK"}'), 1);
  t.is(m.get('unwrapd_bytes_processed_total{method="EncryptStream",direction="in"}'), content.length);
  t.is(m.get('unwrapd_bytes_processed_total{method="EncryptStream",direction="out"}'), envelope.length);
  t.is(m.get('unwrapd_bytes_processed_total{method="DecryptStream",direction="in"}'), envelope.length);
  t.is(m.get('unwrapd_bytes_processed_total{method="DecryptStream",direction="out"}'), content.length);
  t.is(m.get('unwrapd_bytes_processed_total{method="EncryptBatch",direction="in"}'), 30);
  t.is(m.get('unwrapd_streams_in_flight'), 0);
  t.is(m.get('unwrapd_batches_in_flight'), 0);
  t.is(occurrences(text, [content.subarray(0, 64), envelope.subarray(0, 64)]), 0);
});

test('a deaf revocation feed: /readyz 503 naming it, /healthz still 200, the feed state as a metric', async (t) => {
  let state: 'connected' | 'deaf' = 'connected';
  let deafListener: ((deaf: boolean) => void) | undefined;
  let revoke: ((e: RevocationEvent) => void) | undefined;
  const source: RevocationSource = {
    name: 'test-feed',
    start: async (onRevoked) => void (revoke = onRevoked),
    state: () => ({ state, lastSequence: 0 }),
    onDeafChange: (l) => {
      deafListener = l;
      return () => {};
    },
    stop: async () => {},
  };
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0' }, { revocationSources: [source] });
  t.teardown(() => d.stop());
  const addr = d.daemon.metricsAddress!;
  t.is((await get(addr, '/readyz')).status, 200);
  t.is((await scrape(d)).m.get('unwrapd_feed_state{state="connected"}'), 1);
  revoke!({ tenant: 'demo', policyId: 'demo-mailbox', reason: 'test', source: 'test-feed' });
  state = 'deaf';
  deafListener!(true);
  const notReady = await get(addr, '/readyz');
  t.is(notReady.status, 503);
  t.deepEqual(JSON.parse(notReady.body), { ready: false, reason: 'revocation feed deaf' });
  t.is((await get(addr, '/healthz')).status, 200, 'deaf is a reason to leave the rotation, not to be restarted');
  const { m } = await scrape(d);
  t.is(m.get('unwrapd_feed_state{state="deaf"}'), 1);
  t.is(m.get('unwrapd_feed_state{state="connected"}'), 0);
  t.is(m.get('unwrapd_revocations_applied_total{source="test-feed"}'), 1);
});

test('the feed lag: from an event written to its applying, as the feed source reports it', async (t) => {
  const telemetry = createTelemetry(
    { metricsListen: '127.0.0.1:0', traceSampleRatio: 0, metricsTenantLabels: false, serviceName: 'x', version: '0' },
    {},
  );
  t.teardown(() => telemetry.shutdown());
  let deliver: ((events: PolicyEvent[]) => void) | undefined;
  const feed = {
    name: 'fake-feed',
    state: () => ({ state: 'connected' as const, lastSequence: 0 }),
    onDeafChange: () => () => {},
    fenced: () => undefined,
    onEvents: (l: (events: readonly PolicyEvent[]) => void) => {
      deliver = l;
      return () => {};
    },
  } as unknown as RegistryChangeFeed;
  await feedRevocationSource(feed, silentLogger, telemetry).start(() => {});
  const at = new Date(Date.now() - 2_000).toISOString();
  deliver!([{ sequence: 1, type: 'revoked', tenant: 't', policyId: 'p', revision: 2, at }]);
  const lag = parseMetrics((await telemetry.prometheus())!).get('unwrapd_feed_lag_seconds')!;
  t.true(lag >= 2 && lag < 60, `lag ${lag}`);
});

test('availability-key uses and provider outcomes are counted; /healthz stays 200 while the provider is down', async (t) => {
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0' });
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'tm-down');
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && uri.includes('customer') ? providerError('connection_error', uri, 'injected') : undefined;
  await d.client.encrypt({ tenant: 'demo', policyId: 'tm-down', plaintext: Buffer.from('x') });
  t.is((await get(d.daemon.metricsAddress!, '/healthz')).status, 200);
  t.is(
    (await get(d.daemon.metricsAddress!, '/readyz')).status,
    200,
    'an outage of a customer key is no reason to leave',
  );
  const { m } = await scrape(d);
  t.is(m.get('unwrapd_provider_calls_total{provider="local",operation="unwrap",outcome="unavailable"}'), 2);
  t.is(m.get('unwrapd_availability_key_uses_total'), 1, 'no tenant label unless configured');
  // Down for every key: the call fails, liveness holds.
  d.provider.fail = (op, uri) => (op === 'unwrap' ? providerError('timeout', uri, 'injected') : undefined);
  await createPolicy(d.client, 'tm-down-2');
  await t.throwsAsync(d.client.encrypt({ tenant: 'demo', policyId: 'tm-down-2', plaintext: Buffer.from('x') }));
  t.is((await get(d.daemon.metricsAddress!, '/healthz')).status, 200);
  t.true(
    ((await scrape(d)).m.get('unwrapd_provider_calls_total{provider="local",operation="unwrap",outcome="timeout"}') ??
      0) >= 3,
  );
});

test('the tenant label appears only when configured', async (t) => {
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0', metricsTenantLabels: true });
  t.teardown(() => d.stop());
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && uri.includes('customer') ? providerError('throttled', uri, 'injected') : undefined;
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  t.is((await scrape(d)).m.get('unwrapd_availability_key_uses_total{tenant="demo"}'), 1);
});

test('/healthz stays 200 while a policy is revoked; /readyz follows serving; the endpoint is bounded', async (t) => {
  const d = await startTestDaemon({ metricsListen: '127.0.0.1:0' });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : d.stop()));
  const addr = d.daemon.metricsAddress!;
  t.regex(addr, /^127\.0\.0\.1:\d+$/);
  t.deepEqual(JSON.parse((await get(addr, '/readyz')).body), { ready: true });
  await d.client.revoke({ tenant: 'demo', id: 'demo-mailbox' });
  await t.throwsAsync(d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }));
  t.is((await get(addr, '/healthz')).status, 200);
  t.is((await get(addr, '/readyz')).status, 200, 'a revoked policy is no reason to leave the rotation');
  t.is((await get(addr, '/nope')).status, 404);
  const post = await fetch(`http://${addr}/healthz`, { method: 'POST', body: 'x'.repeat(1000) });
  t.is(post.status, 413);
  // Not serving (shutdown started): not ready, with a reason.
  d.daemon.status.serving = false;
  const notReady = await get(addr, '/readyz');
  t.is(notReady.status, 503);
  t.regex(JSON.parse(notReady.body).reason, /not serving/);
  t.is((await get(addr, '/healthz')).status, 200);
  stopped = true;
  await d.stop();
  await t.throwsAsync(get(addr, '/healthz'), undefined, 'closed with the daemon');
});

test('the endpoint is off unless metricsListen is set; telemetry off is the no-op', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  t.is(d.daemon.metricsAddress, undefined);
  t.false(d.daemon.telemetry.enabled);
});

test('spans: the RPC span has the cache miss and the provider call as children, and no payload or key bytes', async (t) => {
  const tr = withTraces(1);
  const d = await startTestDaemon(tr.overrides, { telemetry: tr.hooks });
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'tm-spans');
  tr.exporter.reset();
  const plaintext = randomBytes(64);
  const { envelope } = await d.client.encrypt({ tenant: 'demo', policyId: 'tm-spans', plaintext });
  await d.client.decrypt({ tenant: 'demo', envelope: envelope! });
  const spans = tr.exporter.getFinishedSpans();
  const rpc = spans.find((s) => s.name === 'unwrapd.v1.Crypto/Encrypt')!;
  t.truthy(rpc);
  t.is(rpc.attributes['rpc.method'], 'Encrypt');
  t.is(rpc.attributes['rpc.grpc.status_code_name'], 'OK');
  const miss = spans.find((s) => s.name === 'cache miss: unwrap')!;
  t.is(miss.parentSpanContext?.spanId, rpc.spanContext().spanId);
  const calls = spans.filter((s) => s.name === 'provider unwrap');
  t.true(calls.length >= 1);
  for (const c of calls) {
    t.is(c.parentSpanContext?.spanId, miss.spanContext().spanId);
    t.is(c.spanContext().traceId, rpc.spanContext().traceId);
    t.is(c.attributes['unwrapd.provider'], 'local');
  }
  const decrypt = spans.find((s) => s.name === 'unwrapd.v1.Crypto/Decrypt')!;
  t.truthy(decrypt);
  t.false(
    spans.some((s) => s.parentSpanContext?.spanId === decrypt.spanContext().spanId),
    'a hit has no child span',
  );
  // The cached key itself, the plaintext and the envelope: 0 occurrences in any span attribute.
  const keys = d.daemon.cache.entries().map((e) => Buffer.from(e.kek.expose()));
  t.true(keys.length > 0);
  t.is(occurrences(attributesText(spans), [plaintext, envelope!, ...keys]), 0);
});

test('a traceparent in the metadata becomes the RPC span parent, whatever the ratio; an unsampled one is followed too', async (t) => {
  const tr = withTraces(0);
  const d = await startTestDaemon(tr.overrides, { telemetry: tr.hooks });
  t.teardown(() => d.stop());
  tr.exporter.reset();
  await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('no parent') });
  t.is(tr.exporter.getFinishedSpans().length, 0, 'ratio 0: a call without a sampled parent is not traced');
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  const sampled = new grpc.Metadata();
  sampled.set('traceparent', `00-${traceId}-${parentId}-01`);
  await d.client.encrypt(
    { tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') },
    { metadata: sampled },
  );
  const [span] = tr.exporter.getFinishedSpans();
  t.is(span?.spanContext().traceId, traceId);
  t.is(span?.parentSpanContext?.spanId, parentId);
  const unsampled = new grpc.Metadata();
  unsampled.set('traceparent', `00-${randomBytes(16).toString('hex')}-${parentId}-00`);
  await d.client.encrypt(
    { tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') },
    { metadata: unsampled },
  );
  t.is(tr.exporter.getFinishedSpans().length, 1, 'the caller did not sample: neither do we');
});

test('a traceparent that does not parse is no parent: ratio 0 leaves the call untraced; a valid one still decides', async (t) => {
  const tr = withTraces(0);
  const d = await startTestDaemon(tr.overrides, { telemetry: tr.hooks });
  t.teardown(() => d.stop());
  const encrypt = (traceparent: string) => {
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', traceparent);
    return d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }, { metadata });
  };
  const parentId = randomBytes(8).toString('hex');
  tr.exporter.reset();
  for (const bad of ['garbage', `00-${'0'.repeat(32)}-${parentId}-01`, `00-${randomBytes(16).toString('hex')}-01`]) {
    await encrypt(bad);
    t.is(tr.exporter.getFinishedSpans().length, 0, `not sampled: ${bad}`);
  }
  const traceId = randomBytes(16).toString('hex');
  await encrypt(`00-${traceId}-${parentId}-01`);
  t.deepEqual(
    tr.exporter.getFinishedSpans().map((s) => s.spanContext().traceId),
    [traceId],
    'a valid sampled parent is followed',
  );
  await encrypt(`00-${randomBytes(16).toString('hex')}-${parentId}-00`);
  t.is(tr.exporter.getFinishedSpans().length, 1, 'a valid unsampled parent is followed too');
});

test("the sampling ratio is respected exactly: with the decision's random numbers known, ratio 0.25 samples 25 of 100", async (t) => {
  const exporter = new InMemorySpanExporter();
  let n = 0;
  const random = () => (n++ % 100) / 100; // 0.00, 0.01, ... 0.99: exactly 25 below 0.25
  const d = await startTestDaemon(
    { metricsListen: '127.0.0.1:0', traceSampleRatio: 0.25 },
    { telemetry: { spanProcessors: [new SimpleSpanProcessor(exporter)], random } },
  );
  t.teardown(() => d.stop());
  exporter.reset();
  n = 0;
  for (let i = 0; i < 100; i++)
    await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') });
  const sampled = exporter.getFinishedSpans().filter((s) => s.name === 'unwrapd.v1.Crypto/Encrypt');
  t.is(sampled.length, 25);
  t.is(new Set(sampled.map((s) => s.spanContext().traceId)).size, 25, 'each a trace of its own');
});
