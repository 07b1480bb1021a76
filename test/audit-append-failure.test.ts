import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendFailuresUnavailable } from '../src/audit/append-failures.js';
import { openAuditLog } from '../src/audit/audit-log.js';
import { UnwrapdError } from '../src/errors.js';
import { codeOf, createPolicy, startTestDaemon } from './helpers/test-daemon.js';

/**
 * The file trail's write failures (here: the log's path became a directory, EISDIR, standing for a full or
 * failing disk) are UNAVAILABLE with reason AUDIT_UNAVAILABLE, naming the system error's code only.
 */

test('an append the file system refuses is UNAVAILABLE AUDIT_UNAVAILABLE, for append and for a write’s records', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-auditfail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  const trail = appendFailuresUnavailable(await openAuditLog(path));
  t.teardown(() => trail.close());
  const ok = await trail.append({ type: 'availability_key.used', tenant: 't', policyId: 'p' });
  t.is(ok.seq, 1);
  await rm(path);
  await mkdir(path);
  const err = await t.throwsAsync(trail.append({ type: 'availability_key.used', tenant: 't', policyId: 'p' }), {
    instanceOf: UnwrapdError,
  });
  t.is(err?.code, 'unavailable');
  t.is(err?.reason, 'AUDIT_UNAVAILABLE');
  t.regex(err!.message, /cannot append a record \(EISDIR\)$/);
  const pending = trail.prepare!(() => [{ type: 'policy.revoked', tenant: 't', policyId: 'p' }]);
  const within = await t.throwsAsync(pending.within({ backend: 'file' }), { instanceOf: UnwrapdError });
  t.is(within?.reason, 'AUDIT_UNAVAILABLE');
});

test('a Revoke whose audit record cannot be appended answers UNAVAILABLE naming the audit trail, not INTERNAL', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'af-revoke');
  await rm(d.config.auditLogPath, { force: true });
  await mkdir(d.config.auditLogPath);
  const { code, details } = await codeOf(d.client.revoke({ tenant: 'demo', id: 'af-revoke', reason: 'test' }));
  t.is(code, grpc.status.UNAVAILABLE);
  t.regex(details, /audit trail .*: cannot append a record \(EISDIR\)/);
  // The file registry's change was durable before the append failed (docs/audit.md): the policy is revoked, and
  // a retried Revoke answers so at once, without a record.
  const again = await d.client.revoke({ tenant: 'demo', id: 'af-revoke', reason: 'test' });
  t.is(again.state, 'POLICY_STATE_REVOKED');
});
