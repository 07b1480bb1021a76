import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainRecord, GENESIS_HASH, type AuditFields, type AuditHead } from '../src/audit/audit-record.js';
import type { AuditRecord__Output } from '../src/generated/unwrapd/v1/AuditRecord.js';
import { createLogger } from '../src/log/logger.js';
import { MAX_FOLLOWERS, MAX_UNSENT_BYTES } from '../src/server/audit-handlers.js';
import { startTestDaemon } from './helpers/test-daemon.js';
import { waitFor } from './helpers/wait-for.js';
import { decodeStatusDetails as errorInfo } from './helpers/status-details.js';
import { trailFileCounters } from '../src/audit/trail-file.js';

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

/**
 * A data dir whose audit trail already holds `count` chained records `fields` (audit.log and its .head, as a
 * daemon restarted on an existing trail finds them), removed after the test. Appending them one by one
 * through the daemon costs seconds of CPU; what is followed is the same trail.
 */
async function dirWithTrail(t: ExecutionContext, count: number, fields: AuditFields): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-follow-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let head: AuditHead = { count: 0, hash: GENESIS_HASH };
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const record = chainRecord(head, fields, new Date().toISOString());
    head = { count: record.seq, hash: record.hash };
    lines.push(`${JSON.stringify(record)}\n`);
  }
  await writeFile(join(dir, 'audit.log'), lines.join(''), { mode: 0o600 });
  await writeFile(join(dir, 'audit.log.head'), JSON.stringify(head), { mode: 0o600 });
  return dir;
}

test.serial(
  'a follower that never reads is handed a bounded part of the trail, then ends with UNAVAILABLE naming where to resume',
  async (t) => {
    const { log, seen } = watchingLog();
    const reason = 'r'.repeat(8192);
    const total = 700; // each record comes with twice the reason (reason and record_json): ~11 MiB in all
    const dir = await dirWithTrail(t, total, { type: 'access.denied', tenant: 'contoso', policyId: 'p', reason });
    const d = await startTestDaemon({ demo: false }, { log, dir });
    let stopped = false;
    t.teardown(() => (stopped ? undefined : d.stop()));
    t.is(d.daemon.audit.head().count, total, 'the daemon found the whole trail');

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
  t.like(errorInfo(err), { reason: 'SHUTTING_DOWN', metadata: { resume_from_sequence: '1' } });
  t.is(got.length, 0);
});

test.serial(
  'a follower too far behind on very large records ends with RESOURCE_EXHAUSTED LIMIT_EXCEEDED naming where to resume, and resumes with no loss',
  async (t) => {
    const { log, seen } = watchingLog();
    const reason = 'r'.repeat(400_000); // ~800 kB a record: 16 held by grpc-js pass 4 MiB
    const total = 24;
    const dir = await dirWithTrail(t, total, { type: 'access.denied', tenant: 'contoso', policyId: 'p', reason });
    const d = await startTestDaemon({ demo: false }, { log, dir });
    t.teardown(() => d.stop());
    t.is(d.daemon.audit.head().count, total, 'the daemon found the whole trail');
    const cutOff = seen('FollowAuditRecords: follower too slow, ended');
    const stream = d.client.admin.FollowAuditRecords({ fromSequence: '1' });
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    const cut = await cutOff;
    t.true(
      (cut.unsentSize as number) <= MAX_UNSENT_BYTES + 2 * reason.length + 4096,
      `unsent ${String(cut.unsentSize)}`,
    );
    const got: AuditRecord__Output[] = [];
    stream.on('data', (r: AuditRecord__Output) => got.push(r));
    const err = await ended;
    t.is(err.code, grpc.status.RESOURCE_EXHAUSTED);
    const info = errorInfo(err);
    t.like(info, {
      reason: 'LIMIT_EXCEEDED',
      metadata: { limit: 'followMaxUnsentBytes', limit_value: String(MAX_UNSENT_BYTES) },
    });
    const resume = Number(info.metadata.resume_from_sequence);
    t.is(resume, cut.resumeFromSequence as number);
    t.true(resume > 1 && resume <= total);
    t.is(got.length, resume - 1);

    // Resuming where each end says (a reader may be cut again on records this large): the rest, nothing lost.
    const rest: AuditRecord__Output[] = [];
    for (let from = resume; rest.length < total - resume + 1;) {
      const again = d.client.admin.FollowAuditRecords({ fromSequence: String(from) });
      from = await new Promise<number>((resolve, reject) => {
        again.on('data', (r: AuditRecord__Output) => {
          rest.push(r);
          if (rest.length === total - resume + 1) again.cancel();
        });
        again.on('error', (e: grpc.ServiceError) =>
          e.code === grpc.status.CANCELLED
            ? resolve(0)
            : e.code === grpc.status.RESOURCE_EXHAUSTED
              ? resolve(Number(errorInfo(e).metadata.resume_from_sequence))
              : reject(e),
        );
      });
    }
    t.deepEqual(
      [...got, ...rest].map((r) => Number(r.sequence)),
      Array.from({ length: total }, (_, i) => i + 1),
    );
  },
);

/** Opens a follower from sequence 1: resolves 'data' with the stream on its first record, or 'error' with the status. */
function firstRecord(d: Awaited<ReturnType<typeof startTestDaemon>>) {
  const stream = d.client.admin.FollowAuditRecords({ fromSequence: '1' });
  return new Promise<{ stream: typeof stream; err?: grpc.ServiceError }>((resolve) => {
    stream.once('data', () => resolve({ stream }));
    stream.on('error', (err: grpc.ServiceError) => resolve({ stream, err }));
  });
}

test.serial(
  'followers beyond the cap are refused with RESOURCE_EXHAUSTED LIMIT_EXCEEDED; one ending makes room',
  async (t) => {
    const d = await startTestDaemon({ demo: false });
    t.teardown(() => d.stop());
    await d.daemon.audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p' });
    const open = [];
    for (let i = 0; i < MAX_FOLLOWERS; i++) {
      const f = await firstRecord(d);
      t.is(f.err, undefined);
      open.push(f.stream);
    }
    const over = await firstRecord(d);
    t.is(over.err?.code, grpc.status.RESOURCE_EXHAUSTED);
    t.like(errorInfo(over.err!), {
      reason: 'LIMIT_EXCEEDED',
      metadata: { limit: 'followMaxFollowers', limit_value: String(MAX_FOLLOWERS) },
    });
    open.pop()!.cancel();
    // The daemon learns of the cancel on its own time: retried until accepted, each refusal being the cap's.
    for (;;) {
      const f = await firstRecord(d);
      if (!f.err) {
        open.push(f.stream);
        break;
      }
      t.is(f.err.code, grpc.status.RESOURCE_EXHAUSTED);
    }
    for (const s of open) s.cancel();
  },
);

test.serial(
  'idle followers read nothing of the file trail; an append reaches each follower once, each reading the new line only',
  async (t) => {
    const d = await startTestDaemon({ demo: false });
    t.teardown(() => d.stop());
    await d.daemon.audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p' });
    const followers = 40;
    const got = Array.from({ length: followers }, () => [] as number[]);
    const streams: Array<Awaited<ReturnType<typeof firstRecord>>['stream']> = [];
    for (let i = 0; i < followers; i++) {
      const f = await firstRecord(d);
      t.is(f.err, undefined);
      f.stream.on('data', (r: AuditRecord__Output) => got[i]!.push(Number(r.sequence)));
      streams.push(f.stream);
    }
    t.teardown(() => streams.forEach((s) => s.cancel()));

    // Idle through several checks of the file (one stat a second for all of them): no byte read.
    const idle = { ...trailFileCounters };
    await waitFor(() => trailFileCounters.stats >= idle.stats + 3, 'three checks of the file', 60_000);
    t.is(trailFileCounters.bytesRead, idle.bytesRead);
    t.true(trailFileCounters.stats - idle.stats < followers, `${trailFileCounters.stats - idle.stats} stats`);

    const before = trailFileCounters.bytesRead;
    const record = await d.daemon.audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p' });
    await waitFor(() => got.every((g) => g.length === 1), 'the record at every follower');
    const line = Buffer.byteLength(`${JSON.stringify(record)}\n`);
    // The trail indexes the line once; each follower reads it once from its exact offset.
    t.is(trailFileCounters.bytesRead - before, line * (followers + 1));
    const idleAgain = trailFileCounters.stats;
    await waitFor(() => trailFileCounters.stats >= idleAgain + 2, 'two more checks', 60_000);
    t.deepEqual(
      got,
      Array.from({ length: followers }, () => [2]),
    );
  },
);
