import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendFailuresUnavailable } from '../src/audit/append-failures.js';
import { openAuditLog } from '../src/audit/audit-log.js';
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

test("a registry write's records whose append starts after close are refused, and one under way is finished", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-auditclosed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const trail = await openAuditLog(join(dir, 'audit.log'));
  const fields = () => [used, { ...used, policyId: 'q' }];
  const late = trail.prepare!(fields); // prepared while open; the write's hook runs after close
  const underWay = trail.prepare!(fields);
  const running = underWay.within({ backend: 'file' });
  await trail.close();
  await running;
  t.deepEqual(
    (await underWay.settle()).map((r) => r.seq),
    [1, 2],
    'both records of the write under way were appended before close resolved',
  );
  const err = await t.throwsAsync(late.within({ backend: 'file' }), { instanceOf: UnwrapdError });
  t.is(err?.reason, 'AUDIT_UNAVAILABLE');
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
