import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { CustomerKeysError } from '../src/core/key-unwrapper.js';
import {
  callProvider,
  classifyProviderFailure,
  providerFailure,
  providerFailureCode,
} from '../src/core/provider-failure.js';
import { UnwrapdError } from '../src/errors.js';
import { createLogger } from '../src/log/logger.js';
import { providerError } from '../src/providers/provider-error.js';
import type { PolicyRecord } from '../src/registry/policy.js';
import { toStatus } from '../src/server/status-codes.js';

const URI = 'local:customer-a';
const policy = { tenant: 't', id: 'p' } as PolicyRecord;

function capturingLog() {
  const lines: string[] = [];
  return { log: createLogger('debug', {}, (l) => lines.push(l)), lines };
}

test('a revoked provider failure is FAILED_PRECONDITION, an unavailable one UNAVAILABLE: one map', (t) => {
  t.is(providerFailureCode('revoked'), 'failed_precondition');
  t.is(providerFailureCode('unavailable'), 'unavailable');
  const revoked = providerFailure(providerError('key_disabled', URI, 'disabled'), 'why');
  t.true(revoked instanceof UnwrapdError);
  t.is(revoked.code, 'failed_precondition');
  t.is(providerFailure(providerError('throttled', URI, '429'), 'why').code, 'unavailable');
});

test('failures that are not a ProviderError are classified: abort and timeout unavailable, anything else revoked (fail closed)', (t) => {
  const own = providerError('server_error', URI, '503');
  t.is(classifyProviderFailure(own, URI), own);
  const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
  t.like(classifyProviderFailure(abort, URI), { kind: 'unavailable', reason: 'aborted', keyUri: URI });
  const timeout = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
  t.like(classifyProviderFailure(timeout, URI), { kind: 'unavailable', reason: 'timeout' });
  t.like(classifyProviderFailure(new TypeError('boom'), URI), { kind: 'revoked', reason: 'unknown' });
  t.like(classifyProviderFailure('a string', URI), { kind: 'revoked', reason: 'unknown' });
});

test('callProvider turns a ProviderError into an UnwrapdError naming the role and key, and passes any other error through', async (t) => {
  const cause = providerError('access_denied', URI, 'denied');
  const err = await t.throwsAsync(
    callProvider('customer-a', () => Promise.reject(cause)),
    { instanceOf: UnwrapdError },
  );
  t.is(err.code, 'failed_precondition');
  t.is(err.message, `customer-a key ${URI} cannot be used: access_denied`);
  t.is(err.cause, cause);
  const other = new RangeError('not a provider failure');
  t.is(await t.throwsAsync(callProvider('availability', () => Promise.reject(other))), other);
  t.is(await callProvider('availability', () => Promise.resolve(7)), 7);
});

test('both customer keys failing: revoked when any said so (mixed fails closed), unavailable only when none did', (t) => {
  const mixed = new CustomerKeysError(policy, 1, [
    { role: 'customer-a', error: providerError('timeout', URI, 'slow') },
    { role: 'customer-b', error: providerError('key_deleted', 'local:customer-b', 'gone') },
  ]);
  t.is(mixed.kind, 'revoked');
  t.is(mixed.code, 'failed_precondition');
  const down = new CustomerKeysError(policy, 1, [
    { role: 'customer-a', error: providerError('connection_error', URI, 'refused') },
  ]);
  t.is(down.code, 'unavailable');
});

test("the edge maps the core's errors to status codes; a raw ProviderError reaching it is a bug (INTERNAL, text not sent)", (t) => {
  const { log, lines } = capturingLog();
  const revoked = providerFailure(
    providerError('key_disabled', URI, 'disabled'),
    'customer-a key local:customer-a cannot be used: key_disabled',
  );
  t.like(toStatus(revoked, log, 'Encrypt'), { code: grpc.status.FAILED_PRECONDITION, details: revoked.message });
  t.is(revoked.reason, 'CUSTOMER_KEYS_REVOKED');
  const down = providerFailure(providerError('throttled', URI, '429'), 'customer keys unavailable');
  t.like(toStatus(down, log, 'Encrypt'), { code: grpc.status.UNAVAILABLE, details: 'customer keys unavailable' });
  t.is(down.reason, 'CUSTOMER_KEYS_UNAVAILABLE');
  t.is(lines.length, 0);
  t.like(toStatus(providerError('key_disabled', URI, 'disabled'), log, 'Encrypt'), {
    code: grpc.status.INTERNAL,
    details: 'internal error',
  });
  t.is(lines.length, 1);
  t.regex(lines[0]!, /unexpected error/);
});
