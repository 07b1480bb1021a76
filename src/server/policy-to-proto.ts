import { copyFingerprint } from '../core/key-unwrapper.js';
import type { Policy } from '../generated/unwrapd/v1/Policy.js';
import type { PolicyMode as ProtoMode } from '../generated/unwrapd/v1/PolicyMode.js';
import type { PolicyState as ProtoState } from '../generated/unwrapd/v1/PolicyState.js';
import { invalidArgument } from '../errors.js';
import type { PolicyMode, PolicyRecord, PolicyState } from '../registry/policy.js';

const MODES: Record<PolicyMode, ProtoMode> = { mailbox: 'POLICY_MODE_MAILBOX', files: 'POLICY_MODE_FILES' };
const STATES: Record<PolicyState, ProtoState> = {
  registering: 'POLICY_STATE_REGISTERING',
  active: 'POLICY_STATE_ACTIVE',
  rolling: 'POLICY_STATE_ROLLING',
  revoked: 'POLICY_STATE_REVOKED',
  purged: 'POLICY_STATE_PURGED',
};

/** A policy as the API shows it: key ids and fingerprints, never wrapped bytes. */
export function policyToProto(p: PolicyRecord): Policy {
  return {
    tenant: p.tenant,
    id: p.id,
    name: p.name,
    mode: MODES[p.mode],
    geo: p.geo,
    state: STATES[p.state],
    stateReason: p.stateReason ?? '',
    customerKeys: [
      { uri: p.keys['customer-a'], role: 'customer-a' },
      { uri: p.keys['customer-b'], role: 'customer-b' },
    ],
    availabilityKey: { uri: p.keys.availability, role: 'availability' },
    activeVersion: p.activeVersion,
    minDecryptVersion: p.minDecryptVersion,
    versions: p.versions.map((v) => ({
      version: v.version,
      createdAt: v.createdAt,
      copies: v.copies.map((c) => ({
        keyUri: c.keyUri,
        role: c.role,
        algorithm: c.algorithm,
        fingerprint: copyFingerprint(c),
      })),
    })),
    revision: String(p.revision),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    ...(p.rollProgress ? { rollProgress: p.rollProgress } : {}),
  };
}

export function modeFromProto(mode: string | undefined): PolicyMode {
  switch (mode) {
    case 'POLICY_MODE_MAILBOX':
    case 'POLICY_MODE_UNSPECIFIED':
    case '':
    case undefined:
      return 'mailbox';
    case 'POLICY_MODE_FILES':
      return 'files';
    default:
      throw invalidArgument('mode must be POLICY_MODE_MAILBOX or POLICY_MODE_FILES');
  }
}
