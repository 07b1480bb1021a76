import { join, resolve } from 'node:path';
import { UsageError } from '../cli-error.js';

export type TrailSource =
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
