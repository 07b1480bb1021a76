import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { UnwrapdClient } from '../src/client/client.js';
import type { ListAuditRecordsRequest } from '../src/generated/unwrapd/v1/ListAuditRecordsRequest.js';
import type { ListAuditRecordsResponse__Output } from '../src/generated/unwrapd/v1/ListAuditRecordsResponse.js';
import { MAX_PAGE_BYTES } from '../src/server/audit-handlers.js';
import { codeOf, createPolicy, startTestDaemon } from './helpers/test-daemon.js';

/** ListAuditRecords pages are bounded by bytes as well as by count; an Admin reason refuses control characters. */

function list(client: UnwrapdClient, req: ListAuditRecordsRequest): Promise<ListAuditRecordsResponse__Output> {
  return new Promise((resolve, reject) =>
    client.admin.ListAuditRecords(req, { deadline: Date.now() + 20_000 }, (err, res) =>
      err || !res ? reject(err ?? new Error('no response')) : resolve(res),
    ),
  );
}

test.serial('a page of large records stops at 1 MiB; next_sequence continues it with nothing lost', async (t) => {
  const d = await startTestDaemon({ demo: false });
  t.teardown(() => d.stop());
  const reason = 'r'.repeat(8192);
  const total = 200; // ~3.3 MB of records: more than three pages of 1 MiB
  for (let i = 0; i < total; i++)
    await d.daemon.audit.append({ type: 'access.denied', tenant: 'contoso', policyId: 'p', reason });
  const seen: number[] = [];
  let pages = 0;
  for (let from = '1'; from !== '0'; pages++) {
    const page = await list(d.client, { pageSize: 1000, fromSequence: from });
    const bytes = page.records.reduce((n, r) => n + r.reason.length + r.recordJson.length, 0);
    t.true(bytes <= MAX_PAGE_BYTES, `page of ${bytes} bytes`);
    t.true(page.records.length > 0);
    seen.push(...page.records.map((r) => Number(r.sequence)));
    from = page.nextSequence;
  }
  t.true(pages >= 4, `${pages} pages`);
  t.deepEqual(
    seen,
    Array.from({ length: total }, (_, i) => i + 1),
  );
});

test.serial('an Admin reason with a control character is refused with INVALID_ARGUMENT', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  await createPolicy(d.client, 'ctl');
  for (const reason of ['line\nbreak', 'nul\u0000', 'del\u007f']) {
    const { code } = await codeOf(d.client.revoke({ tenant: 'demo', id: 'ctl', reason }));
    t.is(code, grpc.status.INVALID_ARGUMENT, JSON.stringify(reason));
  }
  await d.client.revoke({ tenant: 'demo', id: 'ctl', reason: 'plain reason, with punctuation: ok' });
});
