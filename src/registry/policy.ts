/**
 * A data encryption policy (DEP) as stored. Nothing unwrapped is ever in here: each intermediate-key version
 * is held only as wrapped copies, one under each customer key and one under the availability key.
 */
export type PolicyMode = 'mailbox' | 'files';
export type PolicyState = 'registering' | 'active' | 'rolling' | 'revoked' | 'purged';
export type KeyRole = 'customer-a' | 'customer-b' | 'availability';

export const KEY_ROLES: readonly KeyRole[] = ['customer-a', 'customer-b', 'availability'];

export interface WrappedCopyRecord {
  role: KeyRole;
  /** Root key URI pinned to a version. */
  keyUri: string;
  algorithm: string;
  /** base64 of the wrapped intermediate key. */
  ciphertext: string;
}

export interface KeyVersionRecord {
  version: number;
  createdAt: string;
  copies: WrappedCopyRecord[];
}

export interface PolicyRecord {
  tenant: string;
  id: string;
  name: string;
  mode: PolicyMode;
  /** Geo (data location) the policy serves; `files` mode allows one policy per tenant per geo. */
  geo: string;
  state: PolicyState;
  stateReason?: string;
  /** Customer keys A and B, then the availability key: URIs pinned to the versions currently in use. */
  keys: Record<KeyRole, string>;
  activeVersion: number;
  minDecryptVersion: number;
  versions: KeyVersionRecord[];
  /** Increments on every change; the registry's optimistic-concurrency token. */
  revision: number;
  createdAt: string;
  updatedAt: string;
  rollProgress?: { done: number; total: number };
  /** Set when purged: the tombstone's time. The record stays so the id is never reused. */
  purgedAt?: string;
}

export { ID_PATTERN } from '../ids.js';

export function policyKey(tenant: string, id: string): string {
  return `${tenant}/${id}`;
}

export function findVersion(policy: PolicyRecord, version: number): KeyVersionRecord | undefined {
  return policy.versions.find((v) => v.version === version);
}
