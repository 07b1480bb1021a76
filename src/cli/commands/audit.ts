import { join, resolve } from 'node:path';
import { verifyAuditLog } from '../../audit/audit-log.js';
import { UsageError } from '../cli-error.js';
import { parse } from '../options.js';
import { print } from '../output.js';

/** `unwrapd audit verify [--file F]`: checks the audit log's hash chain and head; exit 1 when broken. */
export async function audit(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify') throw new UsageError('audit verify [--file F]');
  const { values } = parse(rest, {
    file: { type: 'string' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
  });
  const path =
    values.file ??
    process.env.UNWRAPD_AUDIT_LOG ??
    join(resolve(values['data-dir'] ?? process.env.UNWRAPD_DATA_DIR ?? '.unwrapd'), 'audit.log');
  const result = await verifyAuditLog(path);
  print(values.json, { path, ...result }, () =>
    result.ok
      ? `ok: ${result.records} records, chain and head intact (${path})`
      : `BROKEN: ${result.problem} (${path})`,
  );
  return result.ok ? 0 : 1;
}
