import * as grpc from '@grpc/grpc-js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { Access } from '../auth/access.js';
import type { Caller } from '../auth/caller.js';
import type { AuditRecord as AuditRecordMessage } from '../generated/unwrapd/v1/AuditRecord.js';
import type { ListAuditRecordsRequest__Output } from '../generated/unwrapd/v1/ListAuditRecordsRequest.js';
import type { ListAuditRecordsResponse } from '../generated/unwrapd/v1/ListAuditRecordsResponse.js';
import type { Logger } from '../log/logger.js';
import { auditQuery, auditRecordToProto } from './audit-records.js';
import type { CallerResolver } from './caller-resolver.js';
import { grpcStatus, toStatus } from './status-codes.js';
import { unary } from './unary.js';
import { encodedSizeBound, UnsentBytes } from './unsent-bytes.js';

/**
 * `Admin.ListAuditRecords` (a page) and `Admin.FollowAuditRecords` (a server stream: the records matching the
 * filters, then new ones as they are written, by this instance or, with PostgreSQL, any other, read every
 * `followPollMs`). Both need the `admin` role; what a caller sees is bounded by its grant (audit-records.ts).
 */
export interface AuditHandlerDeps {
  trail: AuditTrail;
  callers: CallerResolver;
  access: Access;
  /** Ends followers when the daemon starts shutting down (a stream never ends by itself). */
  onClose: (listener: () => void) => () => void;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
/** A ListAuditRecords page holds at most this many bytes of records (a bound of their encoding), and one at least. */
export const MAX_PAGE_BYTES = 1024 * 1024;
/**
 * Response bytes written and not yet sent beyond which a follower is ended. A follower waits for its client
 * whenever grpc-js's buffer is full (16 responses), so only a client slower than that many large records hits it.
 */
export const MAX_UNSENT_BYTES = 4 * 1024 * 1024;

/** Followers open at once per daemon; one more is refused with RESOURCE_EXHAUSTED (each one reads the trail). */
export const MAX_FOLLOWERS = 64;

export function auditHandlers(deps: AuditHandlerDeps, log: Logger) {
  const { access, trail } = deps;
  let followers = 0;
  const ListAuditRecords = unary<ListAuditRecordsRequest__Output, ListAuditRecordsResponse>(
    'ListAuditRecords',
    log,
    async (req, _signal, call) => {
      const caller = deps.callers(call);
      access.role(caller, 'admin', 'ListAuditRecords');
      const { filter, visible } = auditQuery(req, caller, access, 'ListAuditRecords');
      const size = Math.min(MAX_PAGE, req.pageSize || DEFAULT_PAGE);
      const page = await trail.list(filter, size);
      // Bounded by bytes as well: the records that fit MAX_PAGE_BYTES (at least one), the rest on the next page.
      const records: AuditRecordMessage[] = [];
      let bytes = 0;
      let next = page.length === size && page.length > 0 ? page[page.length - 1]!.seq + 1 : 0;
      for (const r of page) {
        if (!visible(r)) continue;
        const message = auditRecordToProto(r);
        bytes += encodedSizeBound(message);
        if (records.length > 0 && bytes > MAX_PAGE_BYTES) {
          next = r.seq;
          break;
        }
        records.push(message);
      }
      return { records, nextSequence: String(next) };
    },
  );

  const FollowAuditRecords: grpc.handleServerStreamingCall<ListAuditRecordsRequest__Output, AuditRecordMessage> = (
    call,
  ) => {
    let finished = false;
    let wake = () => {};
    const cleanups: Array<() => void> = [];
    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (finished) return;
      finished = true;
      for (const c of cleanups.splice(0)) c();
      wake();
      if (status) call.emit('error', status);
      else call.end();
    };
    let query: ReturnType<typeof auditQuery>;
    let caller: Caller;
    try {
      caller = deps.callers(call);
      access.role(caller, 'admin', 'FollowAuditRecords');
      query = auditQuery(call.request, caller, access, 'FollowAuditRecords');
    } catch (err) {
      finish(toStatus(err, log, 'FollowAuditRecords'));
      return;
    }
    if (followers >= MAX_FOLLOWERS) {
      finish(
        grpcStatus({
          code: grpc.status.RESOURCE_EXHAUSTED,
          message: `too many followers: ${MAX_FOLLOWERS} (followMaxFollowers)`,
          reason: 'LIMIT_EXCEEDED',
          metadata: { limit: 'followMaxFollowers', limit_value: String(MAX_FOLLOWERS) },
        }),
      );
      return;
    }
    followers++;
    cleanups.push(() => followers--);
    // The next sequence to send (where a cut-off follower resumes); set before any listener can read it.
    let cursor = Number(call.request.fromSequence || '0');
    let appended = false;
    cleanups.push(
      trail.onRecords(() => {
        appended = true;
        wake();
      }),
    );
    cleanups.push(
      deps.onClose(() =>
        finish(
          grpcStatus({
            code: grpc.status.UNAVAILABLE,
            message: `unwrapd is shutting down; resume with from_sequence=${cursor}`,
            reason: 'SHUTTING_DOWN',
            metadata: { resume_from_sequence: String(cursor) },
          }),
        ),
      ),
    );
    if (finished) return; // already shutting down: onClose ended it at once
    const onCancel = () => finish();
    call.on('cancelled', onCancel);
    cleanups.push(() => call.off('cancelled', onCancel));
    const unsent = new UnsentBytes(call);
    void (async () => {
      // from_sequence 0: only records written from now on.
      cursor = Number(call.request.fromSequence || '0') > 0 ? query.filter.fromSeq! : (await trail.latest()).count + 1;
      while (!finished) {
        appended = false;
        const page = await trail.list({ ...query.filter, fromSeq: cursor }, MAX_PAGE);
        for (const r of page) {
          if (finished) return;
          cursor = r.seq + 1;
          if (!query.visible(r)) continue;
          const message = auditRecordToProto(r);
          unsent.write(message, encodedSizeBound(message));
          if (unsent.bytes > MAX_UNSENT_BYTES) {
            log.warn('FollowAuditRecords: follower too slow, ended', {
              unsentSize: unsent.bytes,
              resumeFromSequence: cursor,
            });
            return finish(
              grpcStatus({
                code: grpc.status.RESOURCE_EXHAUSTED,
                message: `follower too slow; resume with from_sequence=${cursor}`,
                reason: 'LIMIT_EXCEEDED',
                metadata: {
                  limit: 'followMaxUnsentBytes',
                  limit_value: String(MAX_UNSENT_BYTES),
                  resume_from_sequence: String(cursor),
                },
              }),
            );
          }
          // Backpressure: once grpc-js's buffer is full, the next record waits for the client (or the call's end).
          if (unsent.full) {
            log.debug('FollowAuditRecords: waiting for the client', { unsentSize: unsent.bytes });
            await unsent.drained();
          }
        }
        if (finished) return;
        if (page.length === MAX_PAGE || appended) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, trail.followPollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = () => {};
      }
    })().catch((err: unknown) => finish(toStatus(err, log, 'FollowAuditRecords')));
  };

  return { ListAuditRecords, FollowAuditRecords };
}
