import type { EncryptionContext } from '../src/crypto/encryption-context.js';

/**
 * The shapes of the published test-vector files (test/vectors/*.json), shared by their generators and the
 * tests that read them. Byte strings are lowercase hex.
 */
export interface BlockPositiveVector {
  name: string;
  intermediateKey: string;
  tenant: string;
  policyId: string;
  keyVersion: number;
  dataKey: string;
  nonce: string;
  context: EncryptionContext;
  plaintext: string;
  envelope: string;
  /** Intermediate values, to help another implementation find where it diverges. */
  derived: {
    kekInfo: string;
    kek: string;
    wrappedDataKey: string;
    /** Suite 2 only: the one-step KDF input u32(1) || DK || label || nonce (docs/envelope-format.md §3.3). */
    kdfInput?: string;
    contentKey: string;
    commitment: string;
    encodedContext: string;
    aad: string;
  };
}

export interface SegmentedPositiveVector extends Omit<BlockPositiveVector, 'derived'> {
  segmentSize: number;
  derived: BlockPositiveVector['derived'] & {
    headerLength: number;
    /** Per segment: its GCM nonce, last flag, and offset/length in `envelope`. */
    segments: { nonce: string; last: boolean; offset: number; length: number }[];
  };
}

export interface NegativeVector<Check extends string = string> {
  name: string;
  /** Which check rejects it in this implementation (every case surfaces as the same generic error). */
  rejectedBy: Check;
  intermediateKey: string;
  /**
   * The tenant the envelope is opened for (the caller's): an envelope of another tenant must be refused. Absent
   * in older files: the envelope's own tenant.
   */
  tenant?: string;
  context: EncryptionContext;
  envelope: string;
}

/** Segmented format v2: the v1 fields, plus the header-bound key derivation and the header tag. */
export interface SegmentedV2PositiveVector extends SegmentedPositiveVector {
  derived: SegmentedPositiveVector['derived'] & {
    /** HKDF info: "unwrapd/v2 segment keys" || the fixed header without its commitment. */
    keysInfo: string;
    headerKey: string;
    headerTag: string;
  };
}
