import { UnwrapdClient } from '../../client/client.js';
import type { AuditRecord__Output } from '../../generated/unwrapd/v1/AuditRecord.js';
import type { ListAuditRecordsRequest } from '../../generated/unwrapd/v1/ListAuditRecordsRequest.js';
import type { ListAuditRecordsResponse__Output } from '../../generated/unwrapd/v1/ListAuditRecordsResponse.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { followStream } from '../follow-stream.js';
import { adminAddress, CLIENT_OPTIONS, daemonAddress, deadline, parse } from '../options.js';

const FILTER_OPTIONS = {
  ...CLIENT_OPTIONS,
  tenant: { type: 'string' },
  policy: { type: 'string' },
  type: { type: 'string', multiple: true },
  since: { type: 'string' },
  until: { type: 'string' },
  from: { type: 'string' },
  limit: { type: 'string' },
} as const;

/**
 * `unwrapd audit list|follow [--tenant T] [--policy P] [--type X]... [--since T] [--until T] [--from N]`:
 * the audit trail through the Admin service (ListAuditRecords, FollowAuditRecords), one line per record
 * (`--json`: one JSON object a line). `list` pages through to the end (or `--limit N` records); `follow`
 * prints the matching records, then new ones as they are written, until interrupted or `--limit N`.
 */
export async function auditRead(sub: 'list' | 'follow', args: string[]): Promise<number> {
  const { values } = parse(args, FILTER_OPTIONS);
  const from = values.from ?? (sub === 'list' ? '1' : '0');
  if (!/^\d{1,15}$/.test(from)) throw new UsageError('--from must be a sequence number');
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit > 0) || !Number.isInteger(limit === Infinity ? 1 : limit))
    throw new UsageError('--limit must be a positive integer');
  const request: ListAuditRecordsRequest = {
    tenant: values.tenant ?? '',
    policyId: values.policy ?? '',
    types: values.type ?? [],
    since: values.since ?? '',
    until: values.until ?? '',
    fromSequence: from,
  };
  const client = new UnwrapdClient(daemonAddress(values), { adminAddress: adminAddress(values) });
  const { stdout } = cliIo();
  const out = (r: AuditRecord__Output) => stdout.write(`${values.json ? JSON.stringify(r) : line(r)}\n`);
  try {
    if (sub === 'list') {
      let seen = 0;
      let next = from;
      while (seen < limit) {
        const ms = deadline(values) ?? 30_000;
        const page = await new Promise<ListAuditRecordsResponse__Output>((resolve, reject) =>
          client.admin.ListAuditRecords(
            { ...request, fromSequence: next, pageSize: Math.min(1000, limit - seen) },
            { deadline: Date.now() + ms },
            (err, res) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)),
          ),
        );
        for (const r of page.records.slice(0, limit - seen)) out(r);
        seen += page.records.length;
        if (page.nextSequence === '0') break;
        next = page.nextSequence;
      }
      return 0;
    }
    return await followStream(client.admin.FollowAuditRecords(request), limit, out);
  } finally {
    client.close();
  }
}

/** Who, when, what, on which policy and version, why. */
function line(r: AuditRecord__Output): string {
  const details = Object.entries(r.details)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return [
    r.sequence,
    r.at,
    r.type,
    `${r.tenant}/${r.policyId}${r.keyVersion ? ` v${r.keyVersion}` : ''}`,
    r.actor || '-',
    r.requestId ? `request ${r.requestId}` : '',
    r.reason ? `reason: ${r.reason}` : '',
    details,
  ]
    .filter((x) => x !== '')
    .join('\t');
}
