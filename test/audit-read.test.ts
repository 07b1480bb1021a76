import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { UnwrapdClient } from '../src/client/client.js';
import type { AuditRecord__Output } from '../src/generated/unwrapd/v1/AuditRecord.js';
import type { ListAuditRecordsRequest } from '../src/generated/unwrapd/v1/ListAuditRecordsRequest.js';
import type { ListAuditRecordsResponse__Output } from '../src/generated/unwrapd/v1/ListAuditRecordsResponse.js';
import { providerError } from '../src/providers/provider-error.js';
import { recordHash, type AuditRecord } from '../src/audit/audit-record.js';
import { postgresDependency, startTestPostgres, type TestPostgres } from './helpers/postgres.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const pgAvailable = requireSystemDependency(test, import.meta.url, postgresDependency());
const pgSerial = pgAvailable ? test.serial : test.serial.skip;

/**
 * Reading the audit trail: ListAuditRecords and FollowAuditRecords only show a caller its granted tenants'
 * records; in a fleet, a record one instance writes is listed and followed from another.
 */
const run = promisify(execFile);
const CLI = new URL('../bin/unwrapd.js', import.meta.url).pathname;
let pgServer: TestPostgres | undefined;
const daemons: TestDaemon[] = [];

test.after.always(async () => {
  for (const d of daemons.reverse()) await d.stop().catch(() => {});
  await pgServer?.stop();
});

function list(client: UnwrapdClient, req: ListAuditRecordsRequest): Promise<ListAuditRecordsResponse__Output> {
  return new Promise((resolve, reject) =>
    client.admin.ListAuditRecords(req, { deadline: Date.now() + 20_000 }, (err, res) =>
      err || !res ? reject(err ?? new Error('no response')) : resolve(res),
    ),
  );
}

/** Follows until `until` holds of what arrived; then cancels. Rejects on a stream error. */
function follow(
  client: UnwrapdClient,
  req: ListAuditRecordsRequest,
  until: (got: AuditRecord__Output[]) => boolean,
  onStarted: () => Promise<void>,
): Promise<AuditRecord__Output[]> {
  return new Promise((resolve, reject) => {
    const got: AuditRecord__Output[] = [];
    const stream = client.admin.FollowAuditRecords(req);
    stream.on('data', (r: AuditRecord__Output) => {
      got.push(r);
      if (until(got)) stream.cancel();
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve(got) : reject(err)));
    void onStarted().catch(reject);
  });
}

test.serial('a tenant-scoped identity lists and follows only its own tenant, and is refused another', async (t) => {
  // The admin socket's caller may administer tenant contoso only.
  const d = await startTestDaemon({
    demo: false,
    authorization: [{ identity: 'admin', roles: ['admin'], tenants: ['contoso'] }],
  });
  daemons.push(d);
  const audit = d.daemon.audit;
  for (const tenant of ['contoso', 'fabrikam', 'contoso', 'fabrikam'])
    await audit.append({ type: 'availability_key.used', tenant, policyId: 'p', actor: 'tls:app', reason: 'outage' });
  await audit.append({ type: 'cache.evicted', tenant: '*', policyId: '*', details: { evicted: 0 } });

  const mine = await list(d.client, {});
  t.deepEqual(
    mine.records.map((r) => r.tenant),
    ['contoso', 'contoso'],
    'without a tenant: only the granted one (not fabrikam, not the record of every tenant)',
  );
  // Each record as listed verifies against its own hash.
  for (const r of mine.records) {
    const { hash, ...body } = JSON.parse(r.recordJson) as AuditRecord;
    t.is(recordHash(body), hash);
    t.is(r.hash, hash);
  }
  t.is((await codeOf(list(d.client, { tenant: 'fabrikam' }))).code, grpc.status.PERMISSION_DENIED);
  t.is(
    (
      await codeOf(
        follow(
          d.client,
          { tenant: 'fabrikam' },
          () => true,
          async () => {},
        ),
      )
    ).code,
    grpc.status.PERMISSION_DENIED,
  );
  // Following from the next record on: a new fabrikam record is never sent; the next contoso one is.
  const followed = await follow(
    d.client,
    { fromSequence: String(audit.head().count + 1) },
    (got) => got.length >= 1,
    async () => {
      await audit.append({ type: 'access.denied', tenant: 'fabrikam', policyId: 'p' });
      await audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p' });
    },
  );
  t.deepEqual(
    followed.map((r) => [r.type, r.tenant]),
    [['access.denied', 'contoso']],
  );
  // Paging: one record a page, to the end.
  const first = await list(d.client, { tenant: 'contoso', pageSize: 1 });
  t.is(first.records.length, 1);
  const second = await list(d.client, { tenant: 'contoso', pageSize: 1, fromSequence: first.nextSequence });
  t.is(second.records[0]!.tenant, 'contoso');
  t.true(Number(second.records[0]!.sequence) > Number(first.records[0]!.sequence));
});

pgSerial(
  'an availability-key use made on one instance of a fleet is listed and followed from another, with who, why and the policy version',
  async (t) => {
    pgServer = await startTestPostgres();
    const url = await pgServer.createDatabase('audit_fleet');
    const a = await startTestDaemon({ registryBackend: 'postgres', pgUrl: url, demo: true, fleetAckWait: false });
    daemons.push(a);
    const b = await startTestDaemon({
      registryBackend: 'postgres',
      pgUrl: url,
      demo: false,
      keystorePath: a.config.keystorePath,
      fleetAckWait: false,
    });
    daemons.push(b);
    const { envelope } = await a.client.encrypt({
      tenant: 'demo',
      policyId: 'demo-mailbox',
      plaintext: Buffer.from('hello'),
      requestId: 'enc-1',
    });
    await a.client.evict({ tenant: 'demo', id: 'demo-mailbox' });
    a.provider.fail = (op, uri) =>
      (op === 'unwrap' || op === 'status') && /^local:demo-customer-[ab]/.test(uri)
        ? providerError('server_error', uri, 'injected')
        : undefined;
    const next = (await b.daemon.audit.latest()).count + 1;
    const followed = follow(
      b.client,
      { tenant: 'demo', types: ['availability_key.used'], fromSequence: String(next) },
      (got) => got.length >= 1,
      async () => {
        const out = await a.client.decrypt({ tenant: 'demo', envelope, requestId: 'dec-42' });
        t.is(out.plaintext.toString(), 'hello', 'served by the availability key');
      },
    );
    const seen = await followed;
    t.is(seen.length, 1, 'B followed the use A made');
    const listed = await list(b.client, { tenant: 'demo', types: ['availability_key.used'] });
    t.is(listed.records.length, 1);
    const use = listed.records[0]!;
    t.is(use.sequence, seen[0]!.sequence);
    t.is(use.requestId, 'dec-42');
    t.regex(use.actor, /^unix:/, 'who: the caller identity');
    t.regex(use.reason, /unavailable/i, 'why');
    t.is(use.keyVersion, 1);
    t.is(use.details.policyRevision, String(a.daemon.registry.get('demo', 'demo-mailbox')!.revision));
    t.truthy(Date.parse(use.at));
    const status = await a.client.getStatus();
    t.deepEqual(
      status.availabilityKeyUsesByTenant.map((c) => [c.tenant, c.count]),
      [['demo', '1']],
    );
    // The CLI, against instance B: audit list --type availability_key.used --json.
    const cli = await run('node', [
      CLI,
      'audit',
      'list',
      '--admin-address',
      b.daemon.adminAddress,
      '--address',
      b.daemon.address,
      '--type',
      'availability_key.used',
      '--json',
    ]);
    const lines = cli.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord__Output);
    t.deepEqual(
      lines.map((l) => [l.sequence, l.requestId]),
      [[use.sequence, 'dec-42']],
    );
  },
);
