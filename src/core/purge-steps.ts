import { invalidArgument, UnwrapdError } from '../errors.js';
import { isProviderError } from '../providers/provider-error.js';
import type { DestructionConfirmation } from '../providers/root-key-provider.js';
import type { PolicyRecord } from '../registry/policy.js';
import { availabilityKeysOf, describePolicies, otherPoliciesUsing } from './availability-keys.js';
import type { OperatorRequest, PurgeReceipt } from './lifecycle-types.js';
import type { LifecycleWrites } from './lifecycle-writes.js';
import { classifyProviderFailure, providerFailure } from './provider-failure.js';

/**
 * Cryptographic deletion: destroys the policy's availability key at its provider (so no copy wrapped under
 * it, in a backup or in PostgreSQL's history, can be unwrapped again), then every wrapped copy of every
 * version, and leaves a tombstone. Refused unless the policy is revoked and the provider says both
 * customer keys are inaccessible, or `force` is given with a reason; refused while another policy uses
 * the availability key (migrate it first). The key is destroyed before the tombstone is written, so a
 * failure or crash between the two leaves a revoked (never a purged) policy, and a retry finishes.
 * Irreversible. Idempotent: a purged policy gets a receipt that destroyed nothing (the first purge's
 * receipt is in the audit trail); concurrent Purges all succeed, one of them writing the tombstone, whose
 * `policy.purged` record commits with it.
 */
export async function purgePolicy(
  w: LifecycleWrites,
  req: OperatorRequest & { force: boolean; reason: string },
): Promise<PurgeReceipt> {
  const policy = w.get(req.tenant, req.id);
  if (policy.state === 'purged') {
    await w.fleetApplied(req.signal); // a retry waits for the fleet again
    return alreadyPurged(policy, req.force);
  }
  requireRevoked(policy);
  if (req.force && !req.reason) throw invalidArgument('purge with force needs a reason');
  if (!req.force) await requireCustomerKeysInaccessible(w, policy, w.signal(req.signal));
  const keyDestructions = await destroyAvailabilityKeys(w, policy, req);
  const now = w.now().toISOString();
  let versionsDestroyed = 0;
  let copiesDestroyed = 0;
  const result = await w.writeWinning(
    req,
    (current) => {
      if (current.state === 'purged') return undefined;
      requireRevoked(current);
      versionsDestroyed = current.versions.length;
      copiesDestroyed = current.versions.reduce((n, v) => n + v.copies.length, 0);
      return {
        state: 'purged',
        stateReason: `purged${req.force ? ' (forced)' : ''}: ${req.reason || 'customer keys inaccessible'}`,
        versions: current.versions.map((v) => ({ version: v.version, createdAt: v.createdAt, copies: [] })),
        purgedAt: now,
        rollProgress: undefined,
      };
    },
    () => [
      w.fields('policy.purged', req, {
        reason: req.reason,
        details: {
          versionsDestroyed,
          copiesDestroyed,
          forced: req.force,
          availabilityKeysDestroyed: keyDestructions.map((d) => d.keyUri).join(' '),
          receipt:
            'irreversible: no wrapped copy of any intermediate-key version remains, and the availability key is destroyed',
        },
      }),
    ],
  );
  w.opts.cache.evictPolicy(policy.tenant, policy.id);
  await w.fleetApplied(req.signal);
  if (!result.wrote) return alreadyPurged(result.policy, req.force);
  return {
    tenant: policy.tenant,
    id: policy.id,
    purgedAt: now,
    versionsDestroyed,
    copiesDestroyed,
    forced: req.force,
    auditRecordHash: result.records[0]?.hash ?? '',
    keyDestructions,
  };
}

/**
 * Purge's crypto-shredding step: destroys every availability key the policy's copies are under, through
 * its provider, each destruction audited. All are checked first: a key another active policy uses is
 * never destroyed, and the purge is refused until that policy no longer shares it (migrate-availability).
 * Other policies on the key that are revoked (a state they never leave but by purge) lose their
 * availability-key reads now rather than at their own purge.
 */
async function destroyAvailabilityKeys(
  w: LifecycleWrites,
  policy: PolicyRecord,
  req: OperatorRequest,
): Promise<DestructionConfirmation[]> {
  const keys = availabilityKeysOf(policy);
  const all = w.opts.registry.list();
  for (const key of keys) {
    // Revoked policies never become active again: one still on the key loses only its system reads before its own purge.
    const users = otherPoliciesUsing(all, key, policy).filter((p) => p.state !== 'revoked');
    if (users.length > 0) {
      throw new UnwrapdError(
        'failed_precondition',
        `availability key ${key} is shared with ${describePolicies(users)}: purge destroys the policy's availability key, and that would break them. Give the policies their own keys first (unwrapd policy migrate-availability), then purge`,
        { reason: 'AVAILABILITY_KEY_SHARED', metadata: { tenant: policy.tenant, policy_id: policy.id } },
      );
    }
  }
  const provider = w.opts.provider;
  if (!provider.destroyKey)
    throw new UnwrapdError(
      'failed_precondition',
      'the root-key provider cannot destroy availability keys: purge would leave the key alive',
      { reason: 'PROVIDER_UNSUPPORTED' },
    );
  const signal = w.signal(req.signal);
  const done: DestructionConfirmation[] = [];
  for (const key of keys) {
    const confirmation = await provider.destroyKey(key, { signal }).catch((err: unknown) => {
      if (!isProviderError(err)) throw err;
      throw providerFailure(
        err,
        `availability key ${key} could not be destroyed (${err.reason}): the policy stays revoked, not purged; retry the purge`,
        'availability',
      );
    });
    // A provider action, not a registry change: its record is appended on its own.
    await w.audit('availability_key.destroyed', req, {
      details: {
        keyUri: confirmation.keyUri,
        provider: confirmation.provider,
        action: confirmation.action,
        alreadyDestroyed: confirmation.alreadyDestroyed,
      },
    });
    done.push(confirmation);
  }
  return done;
}

async function requireCustomerKeysInaccessible(
  w: LifecycleWrites,
  policy: PolicyRecord,
  signal: AbortSignal,
): Promise<void> {
  const uris = new Set<string>();
  for (const v of policy.versions) for (const c of v.copies) if (c.role !== 'availability') uris.add(c.keyUri);
  for (const uri of uris) {
    const status = await w.opts.provider.status(uri, { signal }).catch((err: unknown) => {
      const e = classifyProviderFailure(err, uri);
      return { uri, usable: false, kind: e.kind, reason: e.reason };
    });
    if (status.usable)
      throw new UnwrapdError(
        'failed_precondition',
        `customer key ${uri} is still accessible: purge needs both customer keys revoked at the provider (or force with a reason)`,
        { reason: 'CUSTOMER_KEY_STILL_ACCESSIBLE', metadata: { tenant: policy.tenant, policy_id: policy.id } },
      );
    if (status.kind !== 'revoked')
      throw new UnwrapdError(
        'failed_precondition',
        `customer key ${uri} is unavailable (${status.reason ?? 'unknown'}), not revoked: the provider did not confirm it is inaccessible`,
        {
          reason: 'CUSTOMER_KEY_REVOCATION_UNCONFIRMED',
          metadata: { tenant: policy.tenant, policy_id: policy.id, provider_reason: status.reason ?? 'unknown' },
        },
      );
  }
}

function alreadyPurged(policy: PolicyRecord, forced: boolean): PurgeReceipt {
  return {
    tenant: policy.tenant,
    id: policy.id,
    purgedAt: policy.purgedAt ?? policy.updatedAt,
    versionsDestroyed: 0,
    copiesDestroyed: 0,
    forced,
    auditRecordHash: '',
    keyDestructions: [],
  };
}

/** Purging needs a revoked policy: checked before the key is destroyed, and again where the tombstone is written. */
function requireRevoked(policy: PolicyRecord): void {
  if (policy.state !== 'revoked')
    throw new UnwrapdError(
      'failed_precondition',
      `policy ${policy.tenant}/${policy.id} is ${policy.state}: revoke it before purging`,
      {
        reason: 'PURGE_REQUIRES_REVOKE',
        metadata: { tenant: policy.tenant, policy_id: policy.id, state: policy.state },
      },
    );
}
