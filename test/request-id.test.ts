import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import type { AuditRecord } from '../src/audit/audit-log.js';
import { createLogger } from '../src/log/logger.js';
import { providerError } from '../src/providers/provider-error.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { waitFor } from './helpers/wait-for.js';

// At the default log level (info), every log line and every audit record a request causes carries its
// request id (the client's request_id, else x-request-id, else a generated one), the caller and the trace id.

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const lines: Array<Record<string, unknown>> = [];
let d: TestDaemon;

test.before(async () => {
  const log = createLogger('info', {}, (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  // The data socket grants `user` only: a PURPOSE_SYSTEM call is a denial to look for.
  d = await startTestDaemon({ callerRoles: 'user' }, { log });
});
test.after.always(async () => {
  await d?.stop();
});

const traced = (extra: Record<string, string> = {}) => {
  const m = new grpc.Metadata();
  m.set('traceparent', `00-${TRACE}-b7ad6b7169203331-01`);
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
};
const linesOf = (requestId: string) => lines.filter((l) => l.request_id === requestId);
const audit = async (): Promise<AuditRecord[]> =>
  (await readFile(d.daemon.audit.path, 'utf8'))
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as AuditRecord);
const failure = async (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('the call succeeded');
    },
    (err: grpc.ServiceError) => err,
  );

test.serial(
  'a denied unary, batch and stream call: log line and audit record carry the request id, caller and trace id',
  async (t) => {
    const calls: Array<[string, string, () => Promise<unknown>]> = [
      [
        'Encrypt',
        'deny-unary-1',
        () =>
          d.client.encrypt(
            {
              tenant: 'demo',
              policyId: 'demo-mailbox',
              plaintext: Buffer.from('x'),
              purpose: 'PURPOSE_SYSTEM',
              requestId: 'deny-unary-1',
            },
            { metadata: traced() },
          ),
      ],
      [
        'EncryptBatch',
        'deny-batch-1',
        () =>
          d.client.encryptBatch(
            {
              tenant: 'demo',
              policyId: 'demo-mailbox',
              items: [{ plaintext: Buffer.from('x') }],
              purpose: 'PURPOSE_SYSTEM',
              requestId: 'deny-batch-1',
            },
            { metadata: traced() },
          ),
      ],
      [
        'DecryptStream',
        'deny-stream-1',
        async () => {
          for await (const _ of d.client.decryptStream(
            { tenant: 'demo', purpose: 'PURPOSE_SYSTEM', requestId: 'deny-stream-1' },
            [Buffer.alloc(10)],
            { metadata: traced() },
          ));
        },
      ],
    ];
    for (const [method, id, call] of calls) {
      const err = await failure(call());
      t.is(err.code, grpc.status.PERMISSION_DENIED, method);
      t.deepEqual(err.metadata.get('x-request-id'), [id], `${method}: the request id in the trailers`);
      const denial = linesOf(id).find((l) => l.msg === 'access denied');
      t.truthy(denial, `${method}: a denial line with the request id`);
      t.is(denial!.level, 'warn');
      t.regex(String(denial!.caller), /^unix:/);
      t.is(denial!.trace_id, TRACE);
      t.is(denial!.method, method);
      // The denial's audit record is written off the call's path (rate-limited, src/auth/denial-audit.ts).
      let record: AuditRecord | undefined;
      await waitFor(
        async () =>
          (record = (await audit()).find((r) => r.type === 'access.denied' && r.requestId === id)) !== undefined,
        `${method}: the access.denied audit record with the request id`,
      );
      t.regex(record!.actor ?? '', /^unix:/);
    }
  },
);

test.serial(
  'without request_id: the x-request-id header, else a generated id, reaches the log line and the trailers',
  async (t) => {
    const err = await failure(
      d.client.encrypt(
        { tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x'), purpose: 'PURPOSE_SYSTEM' },
        { metadata: traced({ 'x-request-id': 'mesh-assigned-42' }) },
      ),
    );
    t.deepEqual(err.metadata.get('x-request-id'), ['mesh-assigned-42']);
    t.truthy(linesOf('mesh-assigned-42').find((l) => l.msg === 'access denied'));

    const before = lines.length;
    const generated = await failure(
      d.client.encrypt({
        tenant: 'demo',
        policyId: 'demo-mailbox',
        plaintext: Buffer.from('x'),
        purpose: 'PURPOSE_SYSTEM',
      }),
    );
    const id = String(generated.metadata.get('x-request-id')[0]);
    t.regex(id, /^u-[0-9a-f]{16}-[0-9a-z]+$/);
    const denial = lines.slice(before).find((l) => l.msg === 'access denied');
    t.is(denial?.request_id, id);
    t.is(denial?.trace_id, undefined, 'no traceparent, no trace id');
  },
);

test.serial(
  'provider failures and the availability-key fallback: log lines and the audit record carry the request',
  async (t) => {
    await createPolicy(d.client, 'rid-fallback');
    d.provider.fail = (op, uri) =>
      op === 'unwrap' && uri.includes('customer')
        ? providerError('server_error', uri, 'injected: vault down')
        : undefined;
    try {
      await d.client.encrypt(
        { tenant: 'demo', policyId: 'rid-fallback', plaintext: Buffer.from('x'), requestId: 'fallback-1' },
        { metadata: traced() },
      );
    } finally {
      d.provider.fail = undefined;
    }
    const mine = linesOf('fallback-1');
    const failures = mine.filter((l) => l.msg === 'root key failed to unwrap');
    t.is(failures.length, 2, 'both customer keys');
    const fallback = mine.find((l) => l.msg === 'fallback to availability key');
    t.truthy(fallback);
    for (const l of [...failures, fallback!]) {
      t.regex(String(l.caller), /^unix:/);
      t.is(l.trace_id, TRACE);
    }
    const record = (await audit()).find((r) => r.type === 'availability_key.used' && r.policyId === 'rid-fallback');
    t.is(record?.requestId, 'fallback-1');
    t.regex(record?.actor ?? '', /^unix:/);
  },
);

test.serial(
  'Admin calls that change something log one info line with request id, caller, method and outcome',
  async (t) => {
    await d.client.createPolicy(
      {
        tenant: 'demo',
        id: 'rid-admin',
        name: 'rid-admin',
        mode: 'POLICY_MODE_MAILBOX',
        customerKeyA: 'local:demo-customer-a',
        customerKeyB: 'local:demo-customer-b',
        availabilityKey: '',
        requestId: 'admin-create-1',
      },
      { metadata: traced() },
    );
    await d.client.revoke({ tenant: 'demo', id: 'rid-admin', reason: 'test', requestId: 'admin-revoke-1' });
    const missing = await failure(
      d.client.revoke({ tenant: 'demo', id: 'no-such-policy', requestId: 'admin-revoke-2' }),
    );
    t.is(missing.code, grpc.status.NOT_FOUND);
    await d.client.evict(
      { tenant: 'demo', id: 'rid-admin' },
      { metadata: traced({ 'x-request-id': 'admin-evict-1' }) },
    );

    const expect: Array<[string, string, string]> = [
      ['admin-create-1', 'CreatePolicy', 'ok'],
      ['admin-revoke-1', 'Revoke', 'ok'],
      ['admin-revoke-2', 'Revoke', 'not_found'],
      ['admin-evict-1', 'Evict', 'ok'],
    ];
    for (const [id, method, outcome] of expect) {
      const mine = linesOf(id);
      t.is(mine.length, 1, `${id}: one line`);
      t.like(mine[0], { level: 'info', method, outcome });
      t.regex(String(mine[0]!.caller), /^unix:/);
    }
    t.is(linesOf('admin-create-1')[0]!.trace_id, TRACE);
    const records = await audit();
    t.truthy(records.find((r) => r.type === 'policy.created' && r.requestId === 'admin-create-1'));
    t.truthy(records.find((r) => r.type === 'policy.revoked' && r.requestId === 'admin-revoke-1'));
    t.truthy(records.find((r) => r.type === 'cache.evicted' && r.requestId === 'admin-evict-1'));
  },
);

test.serial('every audit record caused by a request carries a request id', async (t) => {
  // All but the demo policy's creation at start-up, which no request caused.
  const records = (await audit()).filter((r) => !(r.type === 'policy.created' && r.policyId === 'demo-mailbox'));
  t.true(records.length >= 8);
  for (const r of records) t.truthy(r.requestId, `${r.type} ${r.tenant}/${r.policyId}`);
});
