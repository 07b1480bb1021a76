import { parseEnvelope } from '../crypto/envelope-format.js';
import { envelopeKind, parseSegmentedHeader } from '../crypto/segmented-format.js';

/**
 * The tenant and policy an envelope names, read from its header before anything is unwrapped, for callers
 * whose grant is limited to some policies. Undefined when the bytes are not a readable envelope: opening it
 * then fails with the generic error anyway.
 */
export function envelopePolicy(envelope: Uint8Array): { tenant: string; policyId: string } | undefined {
  try {
    const kind = envelopeKind(envelope);
    if (kind === 'block') return parseEnvelope(envelope);
    if (kind === 'segmented') return parseSegmentedHeader(envelope);
  } catch {
    // Malformed: the core's generic failure follows.
  }
  return undefined;
}
