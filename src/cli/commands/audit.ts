import { stat } from 'node:fs/promises';
import type { VerifyResult } from '../../audit/audit-record.js';
import { verifyAuditLog } from '../../audit/audit-log.js';
import { verifyPostgresTrail } from '../../audit/postgres-audit-trail.js';
import { UsageError } from '../cli-error.js';
import { auditRead } from './audit-read.js';
import { auditExport, verifyExportFile } from './audit-export.js';
import { trailSource, withTrailDatabase } from './audit-source.js';
import { parse } from '../options.js';
import { print } from '../output.js';

const USAGE =
  'audit verify [--file F | --pg-url URL [--pg-schema S] | --export FILE] | audit export --from N --to M [--out FILE] | audit list|follow [--tenant T] [--policy P] [--type X]... [--since T] [--until T] [--from N] [--limit N] [--json]';

/**
 * `unwrapd audit verify`: checks the audit trail's hash chain, exit 1 when broken. The file trail (`--file`,
 * or the data directory's audit.log), or the PostgreSQL trail (`--pg-url`, or UNWRAPD_PG_URL with
 * UNWRAPD_REGISTRY_BACKEND=postgres).
 */
export async function audit(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list' || sub === 'follow') return auditRead(sub, rest);
  if (sub === 'export') return auditExport(rest);
  if (sub !== 'verify') throw new UsageError(USAGE);
  const { values } = parse(rest, {
    file: { type: 'string' },
    'data-dir': { type: 'string' },
    'pg-url': { type: 'string' },
    'pg-schema': { type: 'string' },
    export: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.export) return verifyExportFile(values.export, values.json);
  const source = trailSource(values);
  const result: VerifyResult =
    source.kind === 'file'
      ? await verifyFileTrail(source.path)
      : await withTrailDatabase(source, (pool, q) => verifyPostgresTrail(pool, q));
  print(values.json, { path: source.where, ...result }, () =>
    result.ok
      ? `ok: ${result.records} records, chain${source.kind === 'file' ? ' and head' : ''} intact (${source.where})`
      : `${result.unverified ? 'UNVERIFIED' : 'BROKEN'}: ${result.problem} (${source.where})`,
  );
  return result.ok ? 0 : 1;
}

/** The file trail's check, after one refusal: no log at `path` is an error, never "0 records". */
async function verifyFileTrail(path: string): Promise<VerifyResult> {
  await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT')
      throw new Error(
        `no audit log at ${path}: give --file PATH, or --data-dir DIR of the daemon whose audit.log to check`,
      );
    throw err;
  });
  return verifyAuditLog(path);
}
