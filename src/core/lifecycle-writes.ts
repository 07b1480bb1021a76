import type { AuditFields, AuditRecord, AuditType } from '../audit/audit-record.js';
import { RevisionConflictError } from '../registry/policy-registry.js';
import type { PolicyRecord } from '../registry/policy.js';
import { auditedWrite } from './audited-write.js';
import type { LifecycleOptions, OperatorRequest } from './lifecycle-types.js';
import { isServing, policyStateError, requirePolicy } from './policy-state.js';

/** What an audit record of an operator request adds to the request's tenant, policy, request id and actor. */
export interface AuditExtra {
  keyVersion?: number;
  reason?: string;
  details?: Record<string, string | number | boolean>;
}

/** What a write carries: its audit records, and what must happen as soon as it is written (an eviction). */
export interface WriteExtra {
  audit?: () => AuditFields[];
  onWrite?: () => void;
}

/** A policy write and the audit records that go with it (src/core/audited-write.ts). */
export interface Written {
  policy: PolicyRecord;
  records: AuditRecord[];
}

/**
 * The lifecycle's writes, shared by its operations (lifecycle-service.ts, key-roll.ts, purge-steps.ts): the
 * optimistic revision check, the refusal to write over a revocation, the write that wins over concurrent
 * operations (Revoke, Purge), each carrying its audit records into the registry's write.
 */
export class LifecycleWrites {
  readonly opts: LifecycleOptions;
  readonly now: () => Date;

  constructor(opts: LifecycleOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => new Date());
  }

  get(tenant: string, id: string): PolicyRecord {
    return requirePolicy(this.opts.registry, tenant, id);
  }

  usable(tenant: string, id: string): PolicyRecord {
    const policy = this.get(tenant, id);
    if (!isServing(policy)) throw policyStateError(policy, `is ${policy.state}`);
    return policy;
  }

  /** Writes `change` over `policy` (at its revision), with the audit records `audit` names, if any. */
  async update(policy: PolicyRecord, change: Partial<PolicyRecord>, extra: WriteExtra = {}): Promise<Written> {
    const next = { ...policy, ...change, updatedAt: change.updatedAt ?? this.now().toISOString() } as PolicyRecord;
    for (const k of Object.keys(next) as Array<keyof PolicyRecord>) if (next[k] === undefined) delete next[k];
    const { result, records } = await auditedWrite(
      this.opts.audit,
      extra.audit,
      (opts) => this.opts.registry.update(next, policy.revision, opts),
      extra.onWrite,
    );
    return { policy: result, records };
  }

  /**
   * One write of a roll, refresh or rotation: refused once a revocation has started (here: the gate; anywhere:
   * the registry's state, or a revision conflict with a revoked record). Never writes over a revocation.
   */
  async step(policy: PolicyRecord, change: Partial<PolicyRecord>, extra: WriteExtra = {}): Promise<Written> {
    const what = change.activeVersion !== undefined ? 'rotation' : 'roll';
    this.requireNotRevoked(policy, what);
    try {
      return await this.update(policy, change, extra);
    } catch (err) {
      if (err instanceof RevisionConflictError) this.requireNotRevoked(this.get(policy.tenant, policy.id), what);
      throw err;
    }
  }

  /** FAILED_PRECONDITION "policy revoked during the roll" once the policy is revoked, purged, or being revoked here. */
  requireNotRevoked(policy: PolicyRecord, what: 'roll' | 'rotation'): void {
    const current = this.opts.registry.get(policy.tenant, policy.id) ?? policy;
    const state = this.opts.gate.isRevoking(policy.tenant, policy.id) ? 'revoked' : current.state;
    if (state === 'revoked' || state === 'purged') throw policyStateError(policy, `${state} during the ${what}`, state);
  }

  /**
   * A write that wins over concurrent lifecycle operations (Revoke, Purge): `change` is applied to the current
   * record, and on a revision conflict re-applied to the record that won, until it is written or `change` says
   * there is nothing to do (undefined: the record is returned as it is, and no audit record is written).
   * Bounded, with a short backoff: a roll writes once per version at most, so it cannot starve this.
   */
  async writeWinning(
    req: OperatorRequest,
    change: (current: PolicyRecord) => Partial<PolicyRecord> | undefined,
    audit?: () => AuditFields[],
  ): Promise<Written & { wrote: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const current = this.get(req.tenant, req.id);
      const next = change(current);
      if (!next) return { policy: current, records: [], wrote: false };
      try {
        return { ...(await this.update(current, next, { audit })), wrote: true };
      } catch (err) {
        if (!(err instanceof RevisionConflictError) || attempt >= WINNING_ATTEMPTS) throw err;
        req.signal.throwIfAborted();
        await this.#changed(current, Math.min(2 ** attempt, 50));
      }
    }
  }

  /** Resolves once the registry holds a newer revision of `policy` (another writer's change), or after `ms`. */
  #changed(policy: PolicyRecord, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let off = () => {};
      const timer = setTimeout(() => (off(), resolve()), ms);
      off = this.opts.registry.onChange((r) => {
        if (r.tenant === policy.tenant && r.id === policy.id && r.revision > policy.revision) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    });
  }

  /** The audit record of an operator request. */
  fields(type: AuditType, req: Omit<OperatorRequest, 'signal'>, extra: AuditExtra = {}): AuditFields {
    return { type, tenant: req.tenant, policyId: req.id, requestId: req.requestId, actor: req.actor, ...extra };
  }

  /** Appends a record that goes with no registry write (in a transaction of its own). */
  audit(type: AuditType, req: Omit<OperatorRequest, 'signal'>, extra: AuditExtra = {}): Promise<AuditRecord> {
    return this.opts.audit.append(this.fields(type, req, extra));
  }

  /**
   * A restricting change is acknowledged only once every live instance of a fleet has applied it (or its
   * lease expired); the change is durable and audited before this wait, so a wait that fails (UNAVAILABLE or
   * DEADLINE_EXCEEDED, naming the instances) never undoes it. docs/fleet.md.
   */
  async fleetApplied(signal: AbortSignal): Promise<void> {
    await this.opts.registry.awaitFleet?.(signal);
  }

  signal(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.opts.providerTimeoutMs * 4)]);
  }
}

/** Revoke and Purge retry a revision conflict this many times (with a backoff up to 50 ms: several seconds). */
const WINNING_ATTEMPTS = 100;
