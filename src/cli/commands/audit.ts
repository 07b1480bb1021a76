import { readFile, stat } from 'node:fs/promises';
import { ChainCheck, type VerifyResult } from '../../audit/audit-record.js';
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
  const result: VerifyResult & { unverified?: boolean } =
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

/**
 * The file trail's check, after two refusals of what is not a trail to verify: no log at `path` (an error,
 * never "0 records"), and a log without its head file (the chain alone cannot show a cut at the end).
 */
async function verifyFileTrail(path: string): Promise<VerifyResult & { unverified?: boolean }> {
  const log = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT')
      throw new Error(
        `no audit log at ${path}: give --file PATH, or --data-dir DIR of the daemon whose audit.log to check`,
      );
    throw err;
  });
  const headPath = `${path}.head`;
  const head = await stat(headPath).catch((err: NodeJS.ErrnoException) =>
    err.code === 'ENOENT' ? undefined : Promise.reject(err),
  );
  if (head !== undefined || log.size === 0) return verifyAuditLog(path);
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0);
  const chain = new ChainCheck();
  const problem = chain.checkLines(lines);
  return {
    ok: false,
    records: chain.count,
    unverified: problem === undefined,
    problem:
      problem ??
      `the head file ${headPath} is missing: it holds the newest record's sequence number and hash, and without it a cut at the end of the log cannot be detected (the ${chain.count} records present chain correctly). Keep the log and its head file together (copy or restore both)`,
  };
}
