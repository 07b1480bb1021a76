import { MAX_ENVELOPE_OVERHEAD, MAX_ID_LENGTH, MIN_ENVELOPE_OVERHEAD, TAG_LENGTH } from '../crypto/envelope-format.js';
import { MAX_SEGMENTED_HEADER_LENGTH } from '../crypto/segmented-format.js';

/**
 * The largest response message of each Crypto method, computed exactly from the envelope format
 * (docs/envelope-format.md) and the protobuf encoding of the responses (proto/unwrapd/v1/crypto.proto), for
 * given settings. gRPC clients in C-core (Python, C#, C++, Ruby), Go, Java and Node refuse a received message
 * over 4 MiB unless told otherwise: the default settings keep every response below that, with room to spare
 * (test/default-client-limits.test.ts makes each worst-case call with such a client). docs/api.md has the table.
 *
 * Sizes are of the protobuf message, as gRPC's receive limit counts them (the 5-byte gRPC message prefix is
 * not counted).
 */
export interface ResponseLimitSettings {
  maxBlockBytes: number;
  batchMaxItems: number;
  batchMaxBytes: number;
  streamSegmentBytes: number;
  streamMaxSegmentBytes: number;
}

/** What gRPC clients accept per received message unless configured otherwise (C-core, Go, Java, grpc-js). */
export const DEFAULT_CLIENT_RECEIVE_BYTES = 4 * 1024 * 1024;

/**
 * What a batch result may add to its item's payload beyond the ok encoding: the budget for an item's error
 * (its status, message and details) and its framing. The default batch limits leave this much per item.
 */
export const BATCH_ITEM_RESPONSE_ROOM = 768;

/** Length of a protobuf varint encoding `n`. */
export function varintLength(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) len++;
  return len;
}

/** A length-delimited field with a one-byte tag: tag, length, bytes. */
const field = (len: number) => 1 + varintLength(len) + len;
/** A uint32 field at its largest (2^32 - 1: five varint bytes). */
const UINT32_FIELD = 1 + 5;
/** A string field holding an id (tenant, policy id) at its largest. */
const ID_FIELD = field(MAX_ID_LENGTH);
/** The most a v1 block envelope's plaintext can exceed `maxBlockBytes` by, when Decrypt admits maxBlockBytes + 241. */
const SHORT_ID_SLACK = MAX_ENVELOPE_OVERHEAD - MIN_ENVELOPE_OVERHEAD; // 126
/** A Rewrap may lengthen the envelope by the difference of the policy ids' lengths. */
const REWRAP_GROWTH = MAX_ID_LENGTH - 1; // 63

export interface ResponseLimit {
  /** The largest response message in bytes. */
  bytes: number;
  /** How it is made up, for docs and messages. */
  explain: string;
}

/** The largest response of each Crypto method under `s`. */
export function largestResponses(s: ResponseLimitSettings): Record<string, ResponseLimit> {
  const block = s.maxBlockBytes;
  const encryptItem = (p: number) => field(field(field(p + MAX_ENVELOPE_OVERHEAD) + UINT32_FIELD));
  const decryptItem = (p: number) => field(field(field(p) + ID_FIELD + UINT32_FIELD));
  // A batch's items share its payload limit; the per-item overhead is largest when one item holds it all.
  const encryptItemOverhead = encryptItem(s.batchMaxBytes) - s.batchMaxBytes;
  const decryptItemOverhead = decryptItem(s.batchMaxBytes + SHORT_ID_SLACK) - (s.batchMaxBytes + SHORT_ID_SLACK);
  const n = s.batchMaxItems;
  const segment = Math.max(s.streamSegmentBytes + TAG_LENGTH, MAX_SEGMENTED_HEADER_LENGTH);
  return {
    Encrypt: {
      bytes: field(block + MAX_ENVELOPE_OVERHEAD) + UINT32_FIELD,
      explain: `an envelope of maxBlockBytes + ${MAX_ENVELOPE_OVERHEAD}, key_version`,
    },
    Decrypt: {
      bytes: field(block + SHORT_ID_SLACK) + ID_FIELD + UINT32_FIELD,
      explain: `plaintext of maxBlockBytes + ${SHORT_ID_SLACK} (an envelope of maxBlockBytes + ${MAX_ENVELOPE_OVERHEAD} with 1-byte ids), policy_id, key_version`,
    },
    Rewrap: {
      bytes: field(block + MAX_ENVELOPE_OVERHEAD + REWRAP_GROWTH) + ID_FIELD + 2 * UINT32_FIELD,
      explain: `an envelope of maxBlockBytes + ${MAX_ENVELOPE_OVERHEAD + REWRAP_GROWTH} (a 1-byte policy id moved to a 64-byte one), policy_id, key_version, replaced_header_bytes`,
    },
    EncryptBatch: {
      bytes: s.batchMaxBytes + n * Math.max(encryptItemOverhead, BATCH_ITEM_RESPONSE_ROOM),
      explain: `batchMaxBytes + batchMaxItems × max(${encryptItemOverhead} per ok item, ${BATCH_ITEM_RESPONSE_ROOM} for an item's error)`,
    },
    DecryptBatch: {
      bytes: s.batchMaxBytes + n * Math.max(decryptItemOverhead + SHORT_ID_SLACK, BATCH_ITEM_RESPONSE_ROOM),
      explain: `batchMaxBytes + batchMaxItems × max(${decryptItemOverhead + SHORT_ID_SLACK} per ok item, ${BATCH_ITEM_RESPONSE_ROOM} for an item's error)`,
    },
    EncryptStream: {
      bytes: field(segment) + UINT32_FIELD,
      explain: `a sealed segment of streamSegmentBytes + ${TAG_LENGTH} (or the header, ≤ ${MAX_SEGMENTED_HEADER_LENGTH}), key_version`,
    },
    DecryptStream: {
      bytes: field(s.streamMaxSegmentBytes) + ID_FIELD + UINT32_FIELD,
      explain: 'the plaintext of a segment of streamMaxSegmentBytes, policy_id, key_version',
    },
  };
}

/** Methods whose largest response is over what a default-configured gRPC client accepts. */
export function responsesOverClientDefault(s: ResponseLimitSettings): { method: string; bytes: number }[] {
  return Object.entries(largestResponses(s))
    .filter(([, r]) => r.bytes > DEFAULT_CLIENT_RECEIVE_BYTES)
    .map(([method, r]) => ({ method, bytes: r.bytes }));
}
