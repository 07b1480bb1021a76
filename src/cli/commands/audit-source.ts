import { join, resolve } from 'node:path';
import type pg from 'pg';
import { withAuditDatabase } from '../../audit/postgres-audit-reader.js';
import { errorText } from '../../errors.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';

export type TrailSource =
  { kind: 'file'; path: string; where: string } | { kind: 'postgres'; url: string; schema: string; where: string };

/** Which trail the options (or the environment the daemon reads) name. */
export function trailSource(values: {
  file?: string;
  'data-dir'?: string;
  'pg-url'?: string;
  'pg-schema'?: string;
}): TrailSource {
  const { env } = cliIo();
  const url =
    values['pg-url'] ??
    (values.file === undefined && env.UNWRAPD_REGISTRY_BACKEND === 'postgres' ? env.UNWRAPD_PG_URL : undefined);
  if (url) {
    const schema = values['pg-schema'] ?? env.UNWRAPD_PG_SCHEMA ?? 'unwrapd';
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
    env.UNWRAPD_AUDIT_LOG ??
    join(resolve(values['data-dir'] ?? env.UNWRAPD_DATA_DIR ?? '.unwrapd'), 'audit.log');
  return { kind: 'file', path, where: path };
}

/**
 * `withAuditDatabase` for the CLI: a database that cannot be reached or refuses the login is one line naming
 * it (never its password) and what to check, not the driver's bare error.
 */
export async function withTrailDatabase<T>(
  source: Extract<TrailSource, { kind: 'postgres' }>,
  fn: (pool: pg.Pool, q: string) => Promise<T>,
): Promise<T> {
  try {
    return await withAuditDatabase(source.url, source.schema, fn);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // Node's socket errors (ECONNREFUSED, ENOTFOUND, ETIMEDOUT...), PostgreSQL's connection (08), login (28)
    // and unknown-database (3D) classes.
    if (typeof code !== 'string' || !/^(E[A-Z]+|08|28|3D)/.test(code)) throw err;
    throw new Error(
      `cannot read the PostgreSQL audit trail at ${source.where} (${code}: ${errorText(err)}): check that the database is up and reachable, and --pg-url (or UNWRAPD_PG_URL)`,
    );
  }
}
