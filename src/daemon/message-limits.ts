import type { Config } from '../config/config.js';
import { TAG_LENGTH } from '../crypto/envelope-format.js';
import { MAX_SEGMENT_BYTES } from '../crypto/segmented-format.js';

/** Headroom over a block for the envelope header and the other fields of a message. */
const MESSAGE_HEADROOM = 64 * 1024;

/**
 * The gRPC message limit: the largest of a block, a full batch (its bytes plus per-item envelope overhead
 * and fields) and the largest stream segment a DecryptStream may meet, plus headroom.
 */
export function maxMessageBytes(config: Config): number {
  const batch = config.batchMaxBytes + config.batchMaxItems * BATCH_ITEM_ALLOWANCE;
  return Math.max(config.maxBlockBytes, batch, MAX_SEGMENT_BYTES + TAG_LENGTH) + MESSAGE_HEADROOM;
}

/** Per batch item: envelope overhead (241 at most) and the item's fields and framing, with room for a small context. */
const BATCH_ITEM_ALLOWANCE = 512;
