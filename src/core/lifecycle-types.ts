import type { AuditLog } from '../audit/audit-trail.js';
import type { KeyCache } from '../cache/key-cache.js';
import type { DestructionConfirmation, RootKeyProvider } from '../providers/root-key-provider.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { RevocationGate } from '../revocation/revocation-gate.js';
import type { KeyUnwrapper } from './key-unwrapper.js';

/** The lifecycle service's parts and requests (src/core/lifecycle-service.ts). */
export interface LifecycleOptions {
  registry: PolicyRegistry;
  provider: RootKeyProvider;
  unwrapper: KeyUnwrapper;
  cache: KeyCache;
  audit: AuditLog;
  gate: RevocationGate;
  providerTimeoutMs: number;
  /** Where RollKey's `newAvailabilityKey` creates the key when it names no base (default `local:`). */
  availabilityKeyBase?: string;
  now?: () => Date;
}

export interface OperatorRequest {
  tenant: string;
  id: string;
  requestId: string;
  actor: string;
  signal: AbortSignal;
}

export interface RecoveryOption {
  /** Operator recovery: the availability key may unwrap when no customer key can (audited with the reason). */
  recovery: boolean;
  reason: string;
}

export interface PurgeReceipt {
  tenant: string;
  id: string;
  purgedAt: string;
  versionsDestroyed: number;
  copiesDestroyed: number;
  forced: boolean;
  auditRecordHash: string;
  /** The providers' confirmations that the policy's availability key(s) were destroyed. */
  keyDestructions: DestructionConfirmation[];
}
