import { randomBytes } from 'node:crypto';
import { KEY_ROLES, type KeyRole, type PolicyRecord, type WrappedCopyRecord } from '../../src/registry/policy.js';

const FIXED_TIME = '2025-01-01T00:00:00.000Z';

/**
 * A valid PolicyRecord for tests: mailbox mode, active, one intermediate-key version wrapped under all
 * three roles. The wrapped copies are random bytes in base64 (the size of an RSA-2048 wrap), not real keys.
 * Keys are derived from the (possibly overridden) tenant and id, so records stay distinct.
 */
export function makePolicyRecord(overrides: Partial<PolicyRecord> = {}): PolicyRecord {
  const tenant = overrides.tenant ?? 'contoso';
  const id = overrides.id ?? 'policy-1';
  const keys: Record<KeyRole, string> = {
    'customer-a': `local:${tenant}-${id}-a/1`,
    'customer-b': `local:${tenant}-${id}-b/1`,
    availability: `local:availability/1`,
  };
  return {
    tenant,
    id,
    name: `Policy ${id}`,
    mode: 'mailbox',
    geo: 'EUR',
    state: 'active',
    keys,
    activeVersion: 1,
    minDecryptVersion: 1,
    versions: [{ version: 1, createdAt: FIXED_TIME, copies: fakeCopies(keys) }],
    revision: 1,
    createdAt: FIXED_TIME,
    updatedAt: FIXED_TIME,
    ...overrides,
  };
}

export function fakeCopies(keys: Record<KeyRole, string>): WrappedCopyRecord[] {
  return KEY_ROLES.map((role) => ({
    role,
    keyUri: keys[role],
    algorithm: 'RSA-OAEP-256',
    ciphertext: randomBytes(256).toString('base64'),
  }));
}
