import type pg from 'pg';
import { UnwrapdError } from '../../errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** A schema name unwrapd accepts: lower-case letters, digits and `_`, so it needs no escaping anywhere. */
export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,47}$/;

export function quoteSchema(schema: string): string {
  if (!SCHEMA_PATTERN.test(schema) || schema.startsWith('pg_')) {
    throw new UnwrapdError(
      'invalid_argument',
      'the PostgreSQL schema name must be 1-48 characters of a-z 0-9 _, not starting with a digit or pg_',
    );
  }
  return `"${schema}"`;
}

export interface MigrationResult {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The highest version recorded in the database afterwards. */
  current: number;
  /** Versions recorded in the database that this build does not know (a newer unwrapd migrated it). */
  unknown: number[];
}

/**
 * Brings the schema up to date: creates it when missing, then applies every migration not yet recorded in
 * `<schema>.schema_migrations`, each in its own transaction, in version order. The whole run holds a
 * session advisory lock, so instances starting together apply each migration once and the others wait.
 */
export async function migrate(
  client: pg.ClientBase,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  const q = quoteSchema(schema);
  const lockKey = `unwrapd:migrate:${schema}`;
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
  try {
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${q}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (
         version     integer     PRIMARY KEY,
         name        text        NOT NULL,
         applied_at  timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const recorded = new Set(
      (await client.query<{ version: number }>(`SELECT version FROM ${q}.schema_migrations`)).rows.map((r) =>
        Number(r.version),
      ),
    );
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (recorded.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql.replaceAll('{schema}', q));
        await client.query(`INSERT INTO ${q}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new UnwrapdError(
          'internal',
          `PostgreSQL migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      applied.push(m.version);
      recorded.add(m.version);
    }
    const known = new Set(migrations.map((m) => m.version));
    return {
      applied,
      current: Math.max(0, ...recorded),
      unknown: [...recorded].filter((v) => !known.has(v)).sort((a, b) => a - b),
    };
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]).catch(() => {});
  }
}
