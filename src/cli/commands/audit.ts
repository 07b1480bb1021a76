import { join, resolve } from 'node:path';
import type { VerifyResult } from '../../audit/audit-record.js';
import { verifyAuditLog } from '../../audit/audit-log.js';
import { withAuditDatabase } from '../../audit/postgres-audit-reader.js';
import { verifyPostgresTrail } from '../../audit/postgres-audit-trail.js';
import { UsageError } from '../cli-error.js';
import { auditRead } from './audit-read.js';
import { parse } from '../options.js';
import { print } from '../output.js';

const USAGE =
  'audit verify [--file F | --pg-url URL [--pg-schema S]] | audit list|follow [--tenant T] [--policy P] [--type X]... [--since T] [--until T] [--from N] [--limit N] [--json]';

/**
 * `unwrapd audit verify`: checks the audit trail's hash chain, exit 1 when broken. The file trail (`--file`,
 * or the data directory's audit.log), or the PostgreSQL trail (`--pg-url`, or UNWRAPD_PG_URL with
 * UNWRAPD_REGISTRY_BACKEND=postgres).
 */
export async function audit(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list' || sub === 'follow') return auditRead(sub, rest);
  if (sub !== 'verify') throw new UsageError(USAGE);
  const { values } = parse(rest, {
    file: { type: 'string' },
    'data-dir': { type: 'string' },
    'pg-url': { type: 'string' },
    'pg-schema': { type: 'string' },
    json: { type: 'boolean' },
  });
  const source = trailSource(values);
  const result: VerifyResult =
    source.kind === 'file'
      ? await verifyAuditLog(source.path)
      : await withAuditDatabase(source.url, source.schema, (pool, q) => verifyPostgresTrail(pool, q));
  print(values.json, { path: source.where, ...result }, () =>
    result.ok
      ? `ok: ${result.records} records, chain${source.kind === 'file' ? ' and head' : ''} intact (${source.where})`
      : `BROKEN: ${result.problem} (${source.where})`,
  );
  return result.ok ? 0 : 1;
}

type TrailSource =
  { kind: 'file'; path: string; where: string } | { kind: 'postgres'; url: string; schema: string; where: string };

/** Which trail the options (or the environment the daemon reads) name. */
export function trailSource(values: {
  file?: string;
  'data-dir'?: string;
  'pg-url'?: string;
  'pg-schema'?: string;
}): TrailSource {
  const url =
    values['pg-url'] ??
    (values.file === undefined && process.env.UNWRAPD_REGISTRY_BACKEND === 'postgres'
      ? process.env.UNWRAPD_PG_URL
      : undefined);
  if (url) {
    const schema = values['pg-schema'] ?? process.env.UNWRAPD_PG_SCHEMA ?? 'unwrapd';
    let host = 'postgres';
    try {
      const u = new URL(url);
      host = `postgres://${u.host}${u.pathname}`; // never the password
    } catch {
      throw new UsageError('--pg-url must be a postgres:// URL');
    }
    return { kind: 'postgres', url, schema, where: `${host} schema ${schema}` };
  }
  const path =
    values.file ??
    process.env.UNWRAPD_AUDIT_LOG ??
    join(resolve(values['data-dir'] ?? process.env.UNWRAPD_DATA_DIR ?? '.unwrapd'), 'audit.log');
  return { kind: 'file', path, where: path };
}
