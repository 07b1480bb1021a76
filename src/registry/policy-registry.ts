import type pg from 'pg';
import { UnwrapdError } from '../errors.js';
import type { ChangeFeedCapability } from './change-feed.js';
import type { PolicyRecord } from './policy.js';

/**
 * A write that lost the optimistic revision check (FAILED_PRECONDITION). Every registry throws this one
 * error, so writers that must win (Revoke, Purge) recognise it by type, not by its text.
 */
export class RevisionConflictError extends UnwrapdError {
  constructor(key: string, expected?: number, stored?: number) {
    super(
      'failed_precondition',
      expected === undefined
        ? `revision conflict on policy ${key}`
        : `revision conflict on policy ${key}: expected revision ${expected}, stored revision ${stored}`,
      {
        reason: 'REVISION_CONFLICT',
        metadata: {
          tenant: key.split('/')[0],
          policy_id: key.split('/')[1],
          expected_revision: expected,
          stored_revision: stored,
        },
      },
    );
  }
}

/** The atomic step of a write, as a hook sees it: PostgreSQL's open transaction, or the file registry's lock. */
export type WriteTransaction = { backend: 'file' } | { backend: 'postgres'; client: pg.ClientBase };

/** What a write may carry besides the record. */
export interface WriteOptions {
  /**
   * Runs inside the write's atomic step, after the record is written (the audit trail appends the records of
   * the change here). PostgreSQL: in the write's transaction, before COMMIT, so the hook's rows commit with
   * the change or not at all, and a hook that throws undoes the write. File: under the registry's lock, after
   * the document is durable. Not run when the write is refused.
   */
  within?: (tx: WriteTransaction) => Promise<void>;
}

/**
 * Optional, for a registry in a database: the database, for records kept beside the policies in transactions
 * of their own (the audit trail, src/audit/postgres-audit-trail.ts).
 */
export interface RegistryDatabase {
  /** The schema name and its quoted form (src/registry/postgres/migrate.ts). */
  schema: string;
  q: string;
  description: string;
  pool(): pg.Pool;
}

/**
 * Where policies live. Implementations: the file registry (embedded default), PostgreSQL (a fleet).
 *
 * Reads are served from memory (the hot path never touches disk or the network); writes are atomic and
 * durable before they resolve. A registry enforces the per-tenant limits inside the same atomic step as
 * the write, so two writers cannot both squeeze under a limit.
 */
export interface PolicyRegistry {
  /** A human-readable description, e.g. "file:/var/lib/unwrapd/policies.json". */
  readonly description: string;
  /** Loads state; must be called before any other method. */
  open(): Promise<void>;
  /** The current record, from memory. */
  get(tenant: string, id: string): PolicyRecord | undefined;
  /** Every record (of one tenant, when given), sorted by tenant then id. */
  list(tenant?: string): PolicyRecord[];
  /**
   * Stores a new policy. Throws UnwrapdError `already_exists` when (tenant, id) exists, and
   * `failed_precondition` when a limit would be exceeded (policies per tenant; one per tenant per geo in
   * `files` mode).
   */
  create(record: PolicyRecord, opts?: WriteOptions): Promise<PolicyRecord>;
  /**
   * Replaces a policy if its stored revision still equals `expectedRevision` (optimistic concurrency);
   * the stored record gets revision + 1. Throws `not_found`, or `failed_precondition` on a revision
   * conflict (the caller re-reads and retries).
   */
  update(record: PolicyRecord, expectedRevision: number, opts?: WriteOptions): Promise<PolicyRecord>;
  /** Called with every record that changed, after it is durable (this process's writes or another's). */
  onChange(listener: (record: PolicyRecord) => void): () => void;
  /**
   * Optional, for a registry shared by a fleet: resolves once every live instance (lease not expired) has
   * applied every change this instance has written or seen, or its lease has expired, so that a restricting
   * change (revoke, purge, retired key version) may be acknowledged. Rejects with UNAVAILABLE, or
   * DEADLINE_EXCEEDED when `signal` ends the wait first, naming the instances that have not confirmed; the
   * change itself stays durable and in force. Absent on a single-node registry (nothing to wait for).
   */
  awaitFleet?(signal?: AbortSignal): Promise<unknown>;
  /**
   * Optional, for a registry shared by a fleet: its change feed and fleet-wide event log
   * (src/registry/change-feed.ts). Call after open. Absent on a single-node registry.
   */
  changeFeed?(): ChangeFeedCapability;
  /** Optional: the registry's database (PostgreSQL), where the audit trail lives beside the policies. */
  database?(): RegistryDatabase;
  close(): Promise<void>;
}

export interface RegistryLimits {
  /** At most this many policies per tenant (purged ones included, as in Customer Key). Default 50. */
  maxPoliciesPerTenant: number;
}
