import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { AccessDenied } from '../src/auth/caller.js';
import { DEFAULT_REASON, ERROR_REASONS, UnwrapdError } from '../src/errors.js';
import { silentLogger } from '../src/log/logger.js';
import { RevisionConflictError } from '../src/registry/policy-registry.js';
import { decodeStatus, STATUS_DETAILS_KEY } from '../src/rpc/error-details.js';
import { CallCancelledError, DeadlineExceededError } from '../src/server/call-signal.js';
import { toItemError, toStatus } from '../src/server/status-codes.js';

/** The rows of docs/api.md's "Errors" table: reason -> its code column. */
function documentedReasons(): Map<string, string> {
  const doc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Errors\n'));
  const end = section.indexOf('\n## ', 5);
  const rows = new Map<string, string>();
  for (const line of (end > 0 ? section.slice(0, end) : section).split('\n')) {
    const m = /^\| `([A-Z_]+)` \| ([^|]+) \|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!);
  }
  return rows;
}

test('every reason in ERROR_REASONS has a row in docs/api.md "Errors", and every row is a reason', (t) => {
  const rows = documentedReasons();
  for (const reason of ERROR_REASONS) t.true(rows.has(reason), `${reason} is not documented in docs/api.md`);
  for (const reason of rows.keys())
    t.true((ERROR_REASONS as readonly string[]).includes(reason), `${reason} is documented but not a reason`);
  t.is(new Set(ERROR_REASONS).size, ERROR_REASONS.length);
});

test('reasons are UPPER_SNAKE_CASE of at most 63 characters, and every code has a default reason', (t) => {
  for (const reason of ERROR_REASONS) t.regex(reason, /^[A-Z][A-Z0-9_]{0,62}$/);
  for (const reason of Object.values(DEFAULT_REASON)) t.true((ERROR_REASONS as readonly string[]).includes(reason));
  t.is(new UnwrapdError('not_found', 'x').reason, 'NOT_FOUND');
  t.is(new UnwrapdError('not_found', 'x', { reason: 'POLICY_NOT_FOUND' }).reason, 'POLICY_NOT_FOUND');
});

function detailsOf(status: grpc.StatusObject) {
  const [bin] = status.metadata.get(STATUS_DETAILS_KEY);
  return decodeStatus(bin as Buffer);
}

test('toStatus: the details agree with the status; errors without an UnwrapdError get DEADLINE_EXCEEDED, CANCELLED, INTERNAL', (t) => {
  const conflict = toStatus(new RevisionConflictError('demo/p', 3, 4), silentLogger, 'Revoke');
  t.deepEqual(detailsOf(conflict), {
    code: grpc.status.FAILED_PRECONDITION,
    message: conflict.details,
    errorInfo: {
      reason: 'REVISION_CONFLICT',
      domain: 'unwrapd.v1',
      metadata: { tenant: 'demo', policy_id: 'p', expected_revision: '3', stored_revision: '4' },
    },
  });
  const denied = toStatus(new AccessDenied('unix:/s', 'Encrypt', { policy: 'demo/p' }), silentLogger, 'Encrypt');
  t.like(detailsOf(denied)?.errorInfo, { reason: 'POLICY_NOT_ALLOWED', metadata: { tenant: 'demo', policy_id: 'p' } });
  t.like(detailsOf(toStatus(new DeadlineExceededError(), silentLogger, 'Encrypt')), {
    code: grpc.status.DEADLINE_EXCEEDED,
    errorInfo: { reason: 'DEADLINE_EXCEEDED' },
  });
  t.like(detailsOf(toStatus(new CallCancelledError(), silentLogger, 'Encrypt')), {
    code: grpc.status.CANCELLED,
    errorInfo: { reason: 'CANCELLED' },
  });
  const internal = toStatus(new Error('secret detail'), silentLogger, 'Encrypt');
  t.deepEqual(detailsOf(internal), {
    code: grpc.status.INTERNAL,
    message: 'internal error',
    errorInfo: { reason: 'INTERNAL', domain: 'unwrapd.v1', metadata: {} },
  });
  // A failed decryption never carries metadata, whatever the error held.
  const decryption = new UnwrapdError('decryption_failed', 'tag mismatch at byte 7', { metadata: { at: 7 } });
  t.deepEqual(detailsOf(toStatus(decryption, silentLogger, 'Decrypt'))?.errorInfo?.metadata, {});
  const item = toItemError(decryption, silentLogger, 'DecryptBatch');
  t.is(item.message, 'decryption failed');
  t.is(item.status?.message, 'decryption failed');
});
