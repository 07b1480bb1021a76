import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendFailuresUnavailable } from '../src/audit/append-failures.js';
import { openAuditLog } from '../src/audit/audit-log.js';
import { auditedWrite } from '../src/core/audited-write.js';
import { UnwrapdError } from '../src/errors.js';
import { codeOf, createPolicy, startTestDaemon } from './helpers/test-daemon.js';

/**
 * A closed file trail refuses appends (UNAVAILABLE, AUDIT_UNAVAILABLE) and writes nothing more into the data
 * directory; appends started before close() are written before it resolves. The PostgreSQL trail's
 * counterpart is in test/audit-postgres.test.ts.
 */

const used = { type: 'availability_key.used', tenant: 't', policyId: 'p' } as const;

async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = await readFile(join(dir, name), 'utf8');
  return out;
}

test('a closed file trail refuses append and prepare, and nothing more is written beside it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-auditclosed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const trail = appendFailuresUnavailable(await openAuditLog(join(dir, 'audit.log')));
  const started = trail.append(used); // before close: close() waits for it
  await trail.close();
  t.is((await started).seq, 1);
  const before = await snapshotDir(dir);

  const err = await t.throwsAsync(trail.append(used), { instanceOf: UnwrapdError });
  t.is(err?.code, 'unavailable');
  t.is(err?.reason, 'AUDIT_UNAVAILABLE');
  t.regex(err?.message ?? '', /audit trail .*audit\.log is closed/);
  const prepared = t.throws(() => trail.prepare!(() => [used]), { instanceOf: UnwrapdError });
  t.is(prepared?.reason, 'AUDIT_UNAVAILABLE');

  t.deepEqual(await snapshotDir(dir), before, 'no record, head, lock or temp file written after close');
  t.is(trail.head().count, 1);
  t.true((await trail.verify()).ok, 'reads still work');
});

test('close() waits for a registry write prepared before it: its records are appended, or dropped when the write is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-auditclosed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const trail = await openAuditLog(join(dir, 'audit.log'));
  const fields = () => [used, { ...used, policyId: 'q' }];
  const applied = trail.prepare!(fields); // accepted while open; the registry applies it after close() began
  const refused = trail.prepare!(fields); // accepted while open; the registry then refuses the write
  let closedAt: number | undefined;
  const closing = trail.close().then(async () => (closedAt = (await trail.latest()).count));
  t.throws(() => trail.prepare!(fields), { instanceOf: UnwrapdError }, 'no new write is accepted once closing');
  await applied.within({ backend: 'file' }); // the change is durable: its records must follow it
  t.is(closedAt, undefined, 'close() still waits for the refused write');
  refused.discard();
  await closing;
  t.deepEqual(
    (await applied.settle()).map((r) => r.seq),
    [1, 2],
    'both records of the applied write were appended, before close() resolved',
  );
  t.is(closedAt, 2, 'nothing of the refused write was written');
  t.is((await trail.latest()).count, 2);
});

test('an audited write after the trail closed fails UNAVAILABLE and changes nothing', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'closed-trail');
  const head = d.daemon.audit.head();
  await d.daemon.audit.close();
  const { code, details } = await codeOf(d.client.revoke({ tenant: 'demo', id: 'closed-trail', reason: 'test' }));
  t.is(code, grpc.status.UNAVAILABLE);
  t.regex(details, /audit trail .* is closed/);
  t.is((await d.client.getPolicy('demo', 'closed-trail')).state, 'POLICY_STATE_ACTIVE', 'the Revoke was not applied');
  t.deepEqual(d.daemon.audit.head(), head);
});

test('a refused audited write releases its prepared records, so close() does not wait for it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-auditclosed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const trail = await openAuditLog(join(dir, 'audit.log'));
  const refusal = new UnwrapdError('failed_precondition', 'revision mismatch');
  await t.throwsAsync(
    auditedWrite(
      trail,
      () => [used],
      async () => {
        throw refusal;
      },
    ),
    { is: refusal },
  );
  await trail.close(); // would never resolve if the refused write's records stayed pending
  t.is((await trail.latest()).count, 0);
});
