import { createCipheriv, randomBytes, randomFillSync } from 'node:crypto';
import {
  DEFAULT_BLOCK_SUITE,
  openBlock,
  parseEnvelope,
  sealBlock,
  type BlockSuite,
} from '../../src/crypto/envelope.js';
import { SecretKey } from '../../src/crypto/secret-key.js';

/**
 * In-process baselines, single thread, no gRPC: what the machine's crypto costs for one payload, so the
 * table can say how much of a round trip the crypto itself is.
 */

export interface InProcessResult {
  name: string;
  opsPerSec: number;
  usPerOp: number;
}

/** Runs `op` in batches until `durationMs` has passed (after a short warm-up). */
export function timeLoop(name: string, op: () => void, durationMs: number): InProcessResult {
  const warmUntil = performance.now() + Math.min(200, durationMs / 4);
  while (performance.now() < warmUntil) op();
  let ops = 0;
  const start = process.hrtime.bigint();
  const stopAt = start + BigInt(Math.round(durationMs * 1e6));
  let now = start;
  while (now < stopAt) {
    for (let i = 0; i < 64; i++) op();
    ops += 64;
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - start) / 1e9;
  return { name, opsPerSec: ops / seconds, usPerOp: (seconds * 1e6) / ops };
}

/** The names of the in-process lines the sealBlock target compares (bench/lib/unary-report.ts). */
export const RAW_GCM = 'raw AES-256-GCM';
export const SEAL_BLOCK = 'unwrapd sealBlock';
export const OPEN_BLOCK = 'unwrapd parse+openBlock';

/** AES-256-GCM of the payload with node:crypto: a fresh nonce per call, one key. The floor of any Encrypt. */
export function rawAesGcm(payload: Buffer, durationMs: number): InProcessResult {
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  return timeLoop(
    RAW_GCM,
    () => {
      randomFillSync(nonce);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      cipher.update(payload);
      cipher.final();
      cipher.getAuthTag();
    },
    durationMs,
  );
}

/**
 * unwrapd's own sealBlock / openBlock with a cached key: the crypto an Encrypt / Decrypt does, minus gRPC. The
 * plain lines measure the suite written by default (2); the `suite 1` lines the HKDF-SHA256 suite, for
 * comparison.
 */
export function envelopeSealOpen(payload: Buffer, durationMs: number): InProcessResult[] {
  const kek = SecretKey.copyFrom(randomBytes(32), true);
  const ref = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
  const context = {};
  const lines = (suite: BlockSuite, tail: string): InProcessResult[] => {
    const seal = timeLoop(
      SEAL_BLOCK + tail,
      () => sealBlock({ ref, kek, plaintext: payload, context, suite }),
      durationMs,
    );
    const envelope = sealBlock({ ref, kek, plaintext: payload, context, suite });
    const open = timeLoop(OPEN_BLOCK + tail, () => openBlock(parseEnvelope(envelope), kek, context), durationMs);
    return [seal, open];
  };
  try {
    return [...lines(DEFAULT_BLOCK_SUITE, ''), ...lines(1, ' suite 1')];
  } finally {
    kek.destroy();
  }
}
