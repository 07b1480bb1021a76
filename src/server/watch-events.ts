import * as grpc from '@grpc/grpc-js';
import type { Access } from '../auth/access.js';
import { hasPolicy, inRequest, type Caller } from '../auth/caller.js';
import { invalidArgument } from '../errors.js';
import type { PolicyEvent as PolicyEventMessage } from '../generated/unwrapd/v1/PolicyEvent.js';
import type { WatchEventsRequest__Output } from '../generated/unwrapd/v1/WatchEventsRequest.js';
import type { Logger } from '../log/logger.js';
import { RequestContext } from '../log/request-context.js';
import type { PolicyEvent, PolicyEventLog } from '../registry/policy-events.js';
import type { CallerResolver } from './caller-resolver.js';
import { requireId } from './request-fields.js';
import { grpcStatus, toStatus } from './status-codes.js';
import { encodedSizeBound, UnsentBytes } from './unsent-bytes.js';

/**
 * `Admin.WatchEvents`: a server stream of policy events, in sequence order, for operators and tooling.
 *
 * `from_sequence` 0 streams only events from now on; n > 0 first replays every event with sequence >= n
 * (from the shared log with the PostgreSQL registry; from this process's bounded log with the file
 * registry, whose sequence numbers are this process's own), then continues live with no gap and no
 * repeat. A watcher that falls too far behind is ended with RESOURCE_EXHAUSTED, naming the sequence to
 * resume from; at shutdown the stream ends with UNAVAILABLE, also naming it.
 */
export interface WatchEventsDeps {
  events: PolicyEventLog;
  callers: CallerResolver;
  access: Access;
}

const REPLAY_PAGE = 500;
/** Response bytes written and not yet sent beyond which a watcher is cut off (replay pages wait for the client). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Live events held while a replay catches up. */
const MAX_PENDING = 100_000;

export function watchEventsHandler(
  deps: WatchEventsDeps,
  log: Logger,
): grpc.handleServerStreamingCall<WatchEventsRequest__Output, PolicyEventMessage> {
  return (call) => {
    let finished = false;
    const cleanups: Array<() => void> = [];
    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (finished) return;
      finished = true;
      for (const c of cleanups.splice(0)) c();
      if (status) call.emit('error', status);
      else call.end();
    };
    const ctx = new RequestContext('WatchEvents', log, call.metadata);
    const fail = (err: unknown) => finish(toStatus(err, ctx.log, 'WatchEvents'));

    let tenant: string | undefined;
    let from: number;
    let caller: Caller;
    try {
      ctx.caller = (caller = inRequest(deps.callers(call), ctx)).id;
      deps.access.role(caller, 'admin', 'WatchEvents');
      tenant = call.request.tenant ? requireId(call.request.tenant, 'tenant') : undefined;
      if (tenant !== undefined) deps.access.tenant(caller, tenant, 'WatchEvents');
      from = Number(call.request.fromSequence || '0');
      if (!Number.isSafeInteger(from) || from < 0)
        throw invalidArgument('from_sequence must be a non-negative integer');
    } catch (err) {
      fail(err);
      return;
    }

    // The last sequence handled (sent, or skipped as another tenant's): everything up to it is done.
    let cursor = from > 0 ? from - 1 : deps.events.lastSequence();
    let live = from === 0;
    let pending: PolicyEvent[] = [];
    const unsent = new UnsentBytes(call);

    const send = (e: PolicyEvent) => {
      if (finished || e.sequence <= cursor) return;
      cursor = e.sequence;
      if (tenant !== undefined && e.tenant !== tenant) return;
      // Events of tenants (or policies) the caller is not granted are skipped, unsaid.
      if (!hasPolicy(caller, e.tenant, e.policyId)) return;
      const message: PolicyEventMessage = {
        sequence: String(e.sequence),
        type: e.type,
        tenant: e.tenant,
        policyId: e.policyId,
        at: e.at,
        revision: String(e.revision),
      };
      unsent.write(message, encodedSizeBound(message));
      if (unsent.bytes > MAX_BUFFERED_BYTES) {
        finish(
          grpcStatus({
            code: grpc.status.RESOURCE_EXHAUSTED,
            message: `watcher too slow; resume with from_sequence=${cursor + 1}`,
            reason: 'LIMIT_EXCEEDED',
            metadata: {
              limit: 'watchMaxBufferedBytes',
              limit_value: String(MAX_BUFFERED_BYTES),
              resume_from_sequence: String(cursor + 1),
            },
          }),
        );
      }
    };

    cleanups.push(
      deps.events.subscribe((e) => {
        if (live) send(e);
        else if (pending.length < MAX_PENDING) pending.push(e);
        else
          finish(
            grpcStatus({
              code: grpc.status.RESOURCE_EXHAUSTED,
              message: `too many events during replay; resume with from_sequence=${cursor + 1}`,
              reason: 'LIMIT_EXCEEDED',
              metadata: {
                limit: 'watchMaxPendingEvents',
                limit_value: String(MAX_PENDING),
                resume_from_sequence: String(cursor + 1),
              },
            }),
          );
      }),
    );
    cleanups.push(
      deps.events.onClose(() =>
        finish(
          grpcStatus({
            code: grpc.status.UNAVAILABLE,
            message: `unwrapd is shutting down; resume with from_sequence=${cursor + 1}`,
            reason: 'SHUTTING_DOWN',
            metadata: { resume_from_sequence: String(cursor + 1) },
          }),
        ),
      ),
    );
    const onCancel = () => finish();
    call.on('cancelled', onCancel);
    cleanups.push(() => call.off('cancelled', onCancel));

    if (live) return;
    void (async () => {
      for (;;) {
        const batch = await deps.events.replay(cursor, {
          ...(tenant !== undefined ? { tenant } : {}),
          limit: REPLAY_PAGE,
        });
        if (finished) return;
        for (const e of batch) send(e);
        if (batch.length < REPLAY_PAGE) break;
        await unsent.drained(); // backpressure: the next page waits for the client (or the call's end)
        if (finished) return;
      }
      live = true;
      const held = pending;
      pending = [];
      for (const e of held) send(e);
    })().catch(fail);
  };
}
