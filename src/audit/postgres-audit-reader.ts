import pg from 'pg';
import { quoteSchema } from '../registry/postgres/migrate.js';

/**
 * A connection to a PostgreSQL audit trail for the command line (`unwrapd audit verify|export`): one pooled
 * connection, read only. The role needs only SELECT on `<schema>.audit_records` (an auditor's role will do).
 */
export async function withAuditDatabase<T>(
  connectionString: string,
  schema: string,
  fn: (pool: pg.Pool, q: string) => Promise<T>,
): Promise<T> {
  const q = quoteSchema(schema);
  const pool = new pg.Pool({ connectionString, max: 1, application_name: 'unwrapd audit' });
  pool.on('error', () => {}); // an idle connection's failure surfaces on the next query
  try {
    return await fn(pool, q);
  } finally {
    await pool.end().catch(() => {});
  }
}
