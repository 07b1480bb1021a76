import type pg from 'pg';
import { UnwrapdError, isUnwrapdError } from '../../errors.js';
import type { PolicyRecord } from '../policy.js';
import { isRestricting, type PolicyEventType } from '../policy-events.js';
import type { WriteOptions } from '../policy-registry.js';
import { feedChannels } from './feed-options.js';
import { pgMessage } from './pg-text.js';
import { appendEvent, lockTenant, type TenantRow } from './policy-rows.js';

export interface WriteContext {
  pool: pg.Pool;
  q: string;
  schema: string;
  description: string;
}

/** What a write's `change` did: the event type and the record it replaced. */
export interface WriteChange {
  type: PolicyEventType;
  before: PolicyRecord | undefined;
}

/**
 * One write transaction for one tenant: lock the tenant, read its rows, let `change` check and write, append
 * the event, run the write's hook (its audit records, in this transaction), commit. A failure anywhere rolls
 * everything back: the record, its event and its audit records commit together or not at all. Returns the
 * event's sequence and whether the change takes something away (the fleet must confirm it).
 */
export async function writeTransaction(
  ctx: WriteContext,
  candidate: PolicyRecord,
  change: (client: pg.PoolClient, tenantRows: TenantRow[]) => Promise<WriteChange>,
  opts?: WriteOptions,
): Promise<{ sequence: number; restricting: boolean }> {
  let client: pg.PoolClient;
  try {
    client = await ctx.pool.connect();
  } catch (err) {
    throw new UnwrapdError('unavailable', `${ctx.description}: cannot connect (${pgMessage(err)})`, {
      cause: err,
      reason: 'REGISTRY_UNAVAILABLE',
    });
  }
  let broken = false;
  try {
    await client.query('BEGIN');
    const tenantRows = await lockTenant(client, ctx.q, ctx.schema, candidate.tenant, candidate.id);
    const { type, before } = await change(client, tenantRows);
    const sequence = await appendEvent(client, ctx.q, ctx.schema, feedChannels(ctx.schema).events, type, candidate);
    await opts?.within?.({ backend: 'postgres', client });
    await client.query('COMMIT');
    return { sequence, restricting: isRestricting(before, candidate) };
  } catch (err) {
    broken = !isUnwrapdError(err);
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    if (isUnwrapdError(err)) throw err;
    throw new UnwrapdError('unavailable', `${ctx.description}: write failed (${pgMessage(err)})`, {
      cause: err,
      reason: 'REGISTRY_UNAVAILABLE',
    });
  } finally {
    client.release(broken);
  }
}
