import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../src/log/logger.js';
import { isRequestId, RequestContext, requestFields } from '../src/log/request-context.js';
import { parseTraceparent } from '../src/log/traceparent.js';
import { toStatus } from '../src/server/status-codes.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const VALID = `00-${TRACE}-00f067aa0ba902b7-01`;

test('traceparent: the W3C examples parse; flags and a future version with extra fields are read', (t) => {
  t.deepEqual(parseTraceparent(VALID), { version: '00', traceId: TRACE, parentId: '00f067aa0ba902b7', flags: 1 });
  t.is(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-00`)?.flags, 0);
  t.is(parseTraceparent(`cc-${TRACE}-00f067aa0ba902b7-09-what-the-future-says`)?.traceId, TRACE);
  t.is(parseTraceparent(`01-${TRACE}-00f067aa0ba902b7-01`)?.version, '01');
});

test('traceparent: every deviation is no traceparent', (t) => {
  const bad = [
    undefined,
    '',
    VALID.toUpperCase(),
    `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
    `ff-${TRACE}-00f067aa0ba902b7-01`,
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `00-${TRACE}-00f067aa0ba902b7-01-extra`, // version 00 has exactly four fields
    `00-${TRACE}-00f067aa0ba902b7-1`,
    `00-${TRACE.slice(1)}-00f067aa0ba902b7-01`,
    `00_${TRACE}_00f067aa0ba902b7_01`,
    ` ${VALID}`,
    `${VALID} `,
    `${VALID}\n`,
    `0-0${TRACE}-00f067aa0ba902b7-01`,
    `00-${TRACE}-00f067aa0ba902bg-01`,
    `cc-${TRACE}-00f067aa0ba902b7-01${'x'.repeat(600)}`,
    `cc-${TRACE}-00f067aa0ba902b7-01x`,
  ];
  for (const v of bad) t.is(parseTraceparent(v), undefined, JSON.stringify(v));
});

function metadata(entries: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
}

test('the request id is the field, else a valid x-request-id header, else a generated one', (t) => {
  const log = createLogger('silent');
  t.is(new RequestContext('Encrypt', log, metadata({ 'x-request-id': 'hdr-1' }), 'field-1').requestId, 'field-1');
  t.is(new RequestContext('Encrypt', log, metadata({ 'x-request-id': 'hdr-1' }), '').requestId, 'hdr-1');
  t.is(new RequestContext('Encrypt', log, metadata({ 'x-request-id': 'hdr-1' })).requestId, 'hdr-1');
  const bad = new RequestContext('Encrypt', log, metadata({ 'x-request-id': 'has space' }), 'x'.repeat(129));
  t.regex(bad.requestId, /^u-[0-9a-f]{16}-[0-9a-z]+$/);
  t.is(bad.requestId, bad.requestId, 'generated once');
  const two = [new RequestContext('E', log).requestId, new RequestContext('E', log).requestId];
  t.not(two[0], two[1]);
  const stream = new RequestContext('EncryptStream', log, metadata({ 'x-request-id': 'hdr-2' }));
  t.is(stream.requestId, 'hdr-2');
  stream.adoptRequestId('from-the-header-message');
  t.is(stream.requestId, 'from-the-header-message');
  stream.adoptRequestId('not valid');
  t.is(stream.requestId, 'from-the-header-message');
  t.true(isRequestId('a'.repeat(128)));
  t.false(isRequestId('a'.repeat(129)));
  t.false(isRequestId('é'));
});

test("the trace id comes from traceparent, or from the RPC's span when telemetry sets it", (t) => {
  const log = createLogger('silent');
  t.is(new RequestContext('E', log, metadata({ traceparent: VALID })).traceId, TRACE);
  t.is(new RequestContext('E', log, metadata({ traceparent: VALID.toUpperCase() })).traceId, undefined);
  t.is(new RequestContext('E', log).traceId, undefined);
  const ctx = new RequestContext('E', log, metadata({ traceparent: VALID }));
  ctx.setTraceId('0af7651916cd43dd8448eb211c80319c');
  t.is(ctx.traceId, '0af7651916cd43dd8448eb211c80319c');
  ctx.setTraceId('nonsense');
  t.is(ctx.traceId, '0af7651916cd43dd8448eb211c80319c');
});

test("every line of the request's logger carries request_id, caller, trace_id and method, read when written", (t) => {
  const lines: string[] = [];
  const log = createLogger('info', {}, (l) => lines.push(l));
  const ctx = new RequestContext('Encrypt', log, metadata({ traceparent: VALID }), 'req-7');
  ctx.log.warn('before the caller is known');
  ctx.caller = 'unix:/run/unwrapd.sock';
  // An internal error mapped at the edge logs through the request's logger.
  t.is(toStatus(new Error('boom'), ctx.log, ctx.method).code, grpc.status.INTERNAL);
  ctx.log.child({ extra: 1 }).error('child');
  const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(recs[0], { request_id: 'req-7', trace_id: TRACE, method: 'Encrypt' });
  t.is(recs[0]!.caller, undefined);
  for (const r of recs.slice(1))
    t.like(r, { request_id: 'req-7', caller: 'unix:/run/unwrapd.sock', trace_id: TRACE, method: 'Encrypt' });
  t.is(recs[1]!.msg, 'unexpected error');
  t.is(recs[2]!.extra, 1);
  t.deepEqual(requestFields({ requestId: 'r', caller: undefined, traceId: undefined }), { request_id: 'r' });
});
