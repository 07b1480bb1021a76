import { decryptionFailed, invalidArgument } from '../errors.js';
import { kwpUnwrap, kwpWrap } from './aes-kwp.js';
import { DATA_KEY_LENGTH, type EnvelopeRef } from './envelope-format.js';
import type { SecretKey } from './secret-key.js';
import { completeHeader, deriveSegmentKeys, verifyHeader } from './segment-keys.js';
import { parseSegmentedHeader, replaceWrapSection, type SegmentedHeader } from './segmented-format.js';

/** The header of a segmented envelope, from its first bytes (at least the whole header). */
export function parseSegmentedPrefix(bytes: Uint8Array): SegmentedHeader {
  const header = parseSegmentedHeader(bytes);
  if (!header) throw decryptionFailed(); // shorter than its own header
  return header;
}

/**
 * Moves a segmented envelope to another policy or version by rewriting its header only: the data key is
 * unwrapped with `fromKek` and the header authenticated (commitment; v2: header tag), then the data key is
 * wrapped with `to.kek`. The segments' AAD covers the fixed header (which does not change, nor does the
 * version: a v1 envelope stays v1) and not the wrap section, so they stay valid unchanged; a v2 header gets a
 * fresh header tag over its new wrap section. Whatever followed the header in `bytes` is appended as it was.
 * Returns the new bytes and the length of the header they replace (storage replaces that many leading bytes).
 */
export function rewrapSegmentedHeader(
  bytes: Uint8Array,
  header: SegmentedHeader,
  fromKek: SecretKey,
  to: { ref: EnvelopeRef; kek: SecretKey },
): { envelope: Buffer; replacedHeaderBytes: number } {
  if (to.ref.tenant !== header.tenant)
    throw invalidArgument('rewrap cannot move content to another tenant', 'TENANT_MISMATCH');
  const dataKey = kwpUnwrap(fromKek, header.wrappedKey);
  let keys: Buffer | undefined;
  try {
    if (dataKey.length !== DATA_KEY_LENGTH) throw decryptionFailed();
    keys = deriveSegmentKeys(dataKey, header);
    verifyHeader(keys, header);
    const fresh = parseSegmentedHeader(replaceWrapSection(header, to.ref, kwpWrap(to.kek, dataKey)));
    if (!fresh) throw decryptionFailed();
    completeHeader(keys, fresh); // the same commitment (same fixed header); v2: the new header tag
    const src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      envelope: Buffer.concat([fresh.bytes, src.subarray(header.bytes.length)]),
      replacedHeaderBytes: header.bytes.length,
    };
  } finally {
    dataKey.fill(0);
    keys?.fill(0);
  }
}
