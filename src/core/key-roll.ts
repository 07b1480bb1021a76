import { timingSafeEqual } from 'node:crypto';
import type { SecretKey } from '../crypto/secret-key.js';
import { errorText, invalidArgument, UnwrapdError } from '../errors.js';
import { isKeyBase } from '../providers/key-base.js';
import { unpinned } from '../providers/key-uri.js';
import { isProviderError } from '../providers/provider-error.js';
import { KEY_ROLES, type KeyRole, type PolicyRecord, type WrappedCopyRecord } from '../registry/policy.js';
import { availabilityKeyHint, describePolicies, keyIdentity, otherPoliciesUsing } from './availability-keys.js';
import { CustomerKeysError } from './key-unwrapper.js';
import type { OperatorRequest, RecoveryOption } from './lifecycle-types.js';
import type { LifecycleWrites } from './lifecycle-writes.js';
import { callProvider } from './provider-failure.js';

/**
 * Rolls and refreshes (docs/lifecycle.md): rewrap every intermediate-key version under new root-key versions
 * (or other keys) for some roles, one version per registry write, the last write carrying the audit record;
 * with `recovery`, the availability key unwraps when no customer key can, never against a revocation.
 */
export type RollRequest = OperatorRequest & RecoveryOption;

/** RollKey's `newAvailabilityKey`: creates the policy's own key, then rolls the availability role to it. */
export async function rollToNewAvailabilityKey(
  w: LifecycleWrites,
  req: RollRequest & { role: KeyRole; newKeyUri: string },
): Promise<PolicyRecord> {
  if (req.role !== 'availability') throw invalidArgument('new_availability_key is for the availability role only');
  if (req.newKeyUri && !isKeyBase(req.newKeyUri))
    throw invalidArgument(
      'with new_availability_key, new_key_uri is empty or a key base (local:, pkcs11:token=<label>, https://<vault>/keys/)',
    );
  w.usable(req.tenant, req.id);
  const provider = w.opts.provider;
  if (!provider.createKey)
    throw new UnwrapdError('failed_precondition', 'the root-key provider cannot create availability keys', {
      reason: 'PROVIDER_UNSUPPORTED',
    });
  const base = req.newKeyUri || (w.opts.availabilityKeyBase ?? 'local:');
  const created = await callProvider('availability', () =>
    provider.createKey!(base, availabilityKeyHint(req.tenant, req.id), { signal: w.signal(req.signal) }),
  );
  try {
    return await rollRoles(w, req, ['availability'], { availability: created.uri });
  } catch (err) {
    // Versions already rewrapped depend on the new key: it is kept, and the message says how to resume.
    throw new UnwrapdError(
      err instanceof UnwrapdError ? err.code : 'internal',
      `${errorText(err)} (the new availability key ${created.uri} was created; resume with: unwrapd policy roll --tenant ${req.tenant} --id ${req.id} --role availability --key ${created.uri})`,
      { cause: err, ...(err instanceof UnwrapdError ? { reason: err.reason, metadata: err.metadata } : {}) },
    );
  }
}

export function refuseSharedAvailabilityKey(
  w: LifecycleWrites,
  keyUri: string,
  self: { tenant: string; id: string },
): void {
  if (isKeyBase(keyUri))
    throw invalidArgument('new_key_uri is a key base: set new_availability_key to create a key there');
  const users = otherPoliciesUsing(w.opts.registry.list(), keyUri, self);
  if (users.length > 0)
    throw new UnwrapdError(
      'failed_precondition',
      `availability key ${keyIdentity(keyUri)} is already used by ${describePolicies(users)}: each policy needs its own availability key (purge destroys it)`,
      { reason: 'AVAILABILITY_KEY_SHARED', metadata: { tenant: self.tenant, policy_id: self.id } },
    );
}

export async function rollRoles(
  w: LifecycleWrites,
  req: RollRequest,
  roles: KeyRole[],
  targets: Partial<Record<KeyRole, string>>,
): Promise<PolicyRecord> {
  const found = w.get(req.tenant, req.id);
  if (req.recovery && (found.state === 'revoked' || found.state === 'purged'))
    await refuseRecovery(w, req, undefined, `policy ${found.state}`);
  let policy = w.usable(req.tenant, req.id);
  const signal = w.signal(req.signal);
  const pinned: Partial<Record<KeyRole, string>> = {};
  for (const role of roles) {
    const target = targets[role] ?? unpinned(policy.keys[role]);
    pinned[role] = (
      await callProvider(role, () =>
        w.opts.provider.resolve(target, { signal }).catch(async (err: unknown) => {
          // A customer key that says revoked refuses a recovery here already (its latest version is asked for).
          if (req.recovery && role !== 'availability' && isProviderError(err) && err.kind === 'revoked')
            await refuseRecovery(w, req, undefined, `${role}: revoked (${err.reason})`);
          throw err;
        }),
      )
    ).uri;
  }
  if (
    roles
      .filter((r) => r !== 'availability')
      .some((r) => pinned[r] === policy.keys[r === 'customer-a' ? 'customer-b' : 'customer-a'])
  ) {
    throw invalidArgument('customer key A and customer key B must stay different keys');
  }
  const todo = policy.versions.filter((v) =>
    roles.some((role) => v.copies.find((c) => c.role === role)?.keyUri !== pinned[role]),
  );
  const previous = Object.fromEntries(roles.map((r) => [r, policy.keys[r]]));
  for (const [i, v] of todo.entries()) {
    // The first version is unwrapped before the policy is marked rolling: a refused recovery changes nothing.
    const { ik } = await unwrapForRoll(w, policy, v.version, req, signal);
    let copies: WrappedCopyRecord[];
    try {
      if (i === 0)
        policy = (await w.step(policy, { state: 'rolling', rollProgress: { done: 0, total: todo.length } })).policy;
      copies = [...v.copies];
      for (const role of roles) {
        if (copies.find((c) => c.role === role)?.keyUri === pinned[role]) continue;
        w.requireNotRevoked(policy, 'roll');
        const fresh = await wrapVerified(w, pinned[role]!, role, ik, signal);
        copies = [...copies.filter((c) => c.role !== role), fresh];
      }
    } finally {
      ik.destroy();
    }
    const versions = policy.versions.map((x) => (x.version === v.version ? { ...x, copies: sortCopies(copies) } : x));
    policy = (await w.step(policy, { versions, rollProgress: { done: i + 1, total: todo.length } })).policy;
  }
  const keys = { ...policy.keys, ...pinned } as Record<KeyRole, string>;
  const changed = roles.some((r) => previous[r] !== keys[r]) || todo.length > 0;
  if (!changed) return policy;
  const type = roles.length === KEY_ROLES.length ? 'policy.refreshed' : 'policy.rolled';
  const record = w.fields(type, req, {
    reason: req.recovery ? `recovery: ${req.reason}` : undefined,
    details: {
      versionsRewrapped: todo.length,
      ...Object.fromEntries(roles.map((r) => [`${r}`, `${previous[r]} -> ${keys[r]}`])),
    },
  });
  // The last write (the new keys, active again) and its audit record go together.
  const done = { keys, state: 'active' as const, rollProgress: undefined, stateReason: undefined };
  return (await w.step(policy, done, { audit: () => [record] })).policy;
}

async function unwrapForRoll(
  w: LifecycleWrites,
  policy: PolicyRecord,
  version: number,
  req: RollRequest,
  signal: AbortSignal,
) {
  w.requireNotRevoked(policy, 'roll');
  try {
    return await w.opts.unwrapper.unwrapCustomer(policy, version, signal, req);
  } catch (err) {
    if (!(err instanceof CustomerKeysError) || !req.recovery) throw err;
    // Recovery is for keys that are lost or unreachable, never to undo the customer's revocation: any
    // customer key that said revoked refuses it (docs/lifecycle.md).
    if (err.kind === 'revoked')
      await refuseRecovery(
        w,
        req,
        version,
        err.failures.map((f) => `${f.role}: ${f.error.kind} (${f.error.reason})`).join(', '),
      );
    w.requireNotRevoked(w.get(policy.tenant, policy.id), 'roll');
    return w.opts.unwrapper.unwrapAvailability(policy, version, signal, {
      requestId: req.requestId,
      reason: `operator recovery by ${req.actor}: ${req.reason} (${err.reasons})`,
    });
  }
}

/** Audits a refused recovery (the failure classes, no key material) and throws FAILED_PRECONDITION. */
async function refuseRecovery(
  w: LifecycleWrites,
  req: RollRequest,
  version: number | undefined,
  reasons: string,
): Promise<never> {
  await w.audit('recovery.refused', req, { keyVersion: version, reason: req.reason, details: { failures: reasons } });
  throw new UnwrapdError(
    'failed_precondition',
    `recovery refused for policy ${req.tenant}/${req.id}: ${reasons}; the availability key recovers keys that are lost or unreachable, never a customer's revocation`,
    { reason: 'RECOVERY_REFUSED', metadata: { tenant: req.tenant, policy_id: req.id } },
  );
}

/** Wraps `ik` under `keyUri` and proves the copy unwraps back to the same bytes before it is kept. */
export async function wrapVerified(
  w: LifecycleWrites,
  keyUri: string,
  role: KeyRole,
  ik: SecretKey,
  signal: AbortSignal,
): Promise<WrappedCopyRecord> {
  const wrapped = await callProvider(role, () => w.opts.provider.wrap(keyUri, ik, { signal }));
  const back = await callProvider(role, () => w.opts.provider.unwrap(wrapped, { signal }));
  try {
    const a = back.expose();
    const b = ik.expose();
    if (a.length !== b.length || !timingSafeEqual(a, b))
      throw new UnwrapdError('internal', `the new ${role} copy under ${wrapped.keyUri} did not unwrap to the same key`);
  } finally {
    back.destroy();
  }
  return {
    role,
    keyUri: wrapped.keyUri,
    algorithm: wrapped.algorithm,
    ciphertext: Buffer.from(wrapped.ciphertext).toString('base64'),
  };
}

export function checkRecovery(req: RecoveryOption): void {
  if (req.recovery && !req.reason) throw invalidArgument('operator recovery needs a reason');
}

function sortCopies(copies: WrappedCopyRecord[]): WrappedCopyRecord[] {
  return [...copies].sort((a, b) => KEY_ROLES.indexOf(a.role) - KEY_ROLES.indexOf(b.role));
}
