import pg from 'pg';
import type { Logger } from '../../log/logger.js';
import { pgMessage } from './pg-text.js';

/** The registry's pool (writes and replays; the change feed has its own connection). */
export function createPool(opts: {
  connectionString: string;
  max: number;
  instanceId: string;
  connectTimeoutMs: number;
  log: Logger;
}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    application_name: `unwrapd ${opts.instanceId}`,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    query_timeout: 30_000,
  });
  // An idle connection that breaks is dropped by the pool; without a listener the error would be fatal.
  pool.on('error', (err) => opts.log.warn('PostgreSQL pool connection failed', { reason: err.message }));
  return pool;
}

/** A connection from the pool, retried with doubling delays for up to `timeoutMs` (PostgreSQL may still be starting). */
export async function connectWithRetry(pool: pg.Pool, timeoutMs: number, log: Logger): Promise<pg.PoolClient> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await pool.connect();
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
      log.debug('PostgreSQL not reachable yet; retrying', { reason: pgMessage(err) });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
