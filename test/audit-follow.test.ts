import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { AuditRecord__Output } from '../src/generated/unwrapd/v1/AuditRecord.js';
import { createLogger } from '../src/log/logger.js';
import { MAX_UNSENT_BYTES } from '../src/server/audit-handlers.js';
import { startTestDaemon } from './helpers/test-daemon.js';

/**
 * FollowAuditRecords against a real daemon: a follower that does not read is not handed the whole trail (the
 * daemon waits for the client once grpc-js's buffer is full, and counts the bytes it has not sent).
 */

/** A logger that resolves `seen(msg)` with the fields of the first line of that message. */
function watchingLog() {
  const waiters = new Map<string, (fields: Record<string, unknown>) => void>();
  const log = createLogger('debug', {}, (l) => {
    const fields = JSON.parse(l) as Record<string, unknown>;
    waiters.get(fields.msg as string)?.(fields);
  });
  const seen = (msg: string) => new Promise<Record<string, unknown>>((resolve) => waiters.set(msg, resolve));
  return { log, seen };
}

test.serial(
  'a follower that never reads is handed a bounded part of the trail, then ends with UNAVAILABLE naming where to resume',
  async (t) => {
    const { log, seen } = watchingLog();
    const d = await startTestDaemon({ demo: false }, { log });
    let stopped = false;
    t.teardown(() => (stopped ? undefined : d.stop()));
    const reason = 'r'.repeat(8192);
    const total = 700; // each record comes with twice the reason (reason and record_json): ~11 MiB in all
    await Promise.all(
      Array.from({ length: total }, () =>
        d.daemon.audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p', reason }),
      ),
    );

    // Never reads (no 'data' listener): grpc-js's client stops taking messages, HTTP/2 flow control stops the daemon.
    const waiting = seen('FollowAuditRecords: waiting for the client');
    const stream = d.client.admin.FollowAuditRecords({ fromSequence: '1' });
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    const blocked = await waiting;
    t.true((blocked.unsentSize as number) <= MAX_UNSENT_BYTES, `unsent ${String(blocked.unsentSize)}`);

    // Shutdown ends it; reading now yields what was handed over, then the status.
    const stopping = d.stop();
    stopped = true;
    const got: AuditRecord__Output[] = [];
    stream.on('data', (r: AuditRecord__Output) => got.push(r));
    const err = await ended;
    await stopping;
    t.is(err.code, grpc.status.UNAVAILABLE);
    const resume = Number(/from_sequence=(\d+)/.exec(err.details)?.[1]);
    t.is(got.length, resume - 1, 'resume from the record after the last one received');
    t.deepEqual(
      got.map((r) => Number(r.sequence)),
      Array.from({ length: resume - 1 }, (_, i) => i + 1),
    );
    t.true(got.length < total / 2, `handed over ${got.length} of ${total} records`);
  },
);

test.serial('FollowAuditRecords called once shutdown has begun ends at once with UNAVAILABLE', async (t) => {
  const d = await startTestDaemon({ demo: false });
  t.teardown(() => d.stop());
  await d.daemon.audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p' });
  await d.daemon.fleet.close(); // the first step of shutdown: followers and watchers end, the servers still answer
  const stream = d.client.admin.FollowAuditRecords({ fromSequence: '1' });
  const got: AuditRecord__Output[] = [];
  stream.on('data', (r: AuditRecord__Output) => got.push(r));
  const err = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  t.is(err.code, grpc.status.UNAVAILABLE, err.details);
  t.regex(err.details, /resume with from_sequence=1$/);
  t.is(got.length, 0);
});
