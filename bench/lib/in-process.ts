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

/**
 * Runs the ops round-robin, 64 calls of one then 64 of the next, until `durationMs` per op has passed (after a
 * short warm-up of each): side by side, so that a load that comes and goes on a shared machine weighs on every
 * op alike and their ratios hold, where one op timed after another would each see a different load.
 */
export function timeInterleaved(ops: { name: string; op: () => void }[], durationMs: number): InProcessResult[] {
  for (const { op } of ops) {
    const warmUntil = performance.now() + Math.min(200, durationMs / 4);
    while (performance.now() < warmUntil) op();
  }
  const ns = ops.map(() => 0n);
  const counts = ops.map(() => 0);
  const stopAt = process.hrtime.bigint() + BigInt(Math.round(durationMs * ops.length * 1e6));
  for (let now = process.hrtime.bigint(); now < stopAt;) {
    ops.forEach(({ op }, k) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 64; i++) op();
      now = process.hrtime.bigint();
      ns[k]! += now - start;
      counts[k]! += 64;
    });
  }
  return ops.map(({ name }, k) => {
    const seconds = Number(ns[k]!) / 1e9;
    return { name, opsPerSec: counts[k]! / seconds, usPerOp: (seconds * 1e6) / counts[k]! };
  });
}

/** The names of the in-process lines the sealBlock target compares (bench/lib/unary-report.ts). */
export const RAW_GCM = 'raw AES-256-GCM';
export const SEAL_BLOCK = 'unwrapd sealBlock';
export const OPEN_BLOCK = 'unwrapd parse+openBlock';

/** AES-256-GCM of the payload with node:crypto: a fresh nonce per call, one key. The floor of any Encrypt. */
function rawAesGcmOp(payload: Buffer): () => void {
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  return () => {
    randomFillSync(nonce);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
    cipher.update(payload);
    cipher.final();
    cipher.getAuthTag();
  };
}

/** Raw AES-256-GCM of the payload, timed alone. */
export function rawAesGcm(payload: Buffer, durationMs: number): InProcessResult {
  return timeLoop(RAW_GCM, rawAesGcmOp(payload), durationMs);
}

/**
 * Raw AES-256-GCM of the payload, and unwrapd's own sealBlock / openBlock with a cached key (the crypto an
 * Encrypt / Decrypt does, minus gRPC), timed side by side (timeInterleaved). The plain sealBlock / openBlock
 * lines measure the suite written by default (2); the `suite 1` lines the HKDF-SHA256 suite, for comparison.
 */
export function blockCryptoInProcess(payload: Buffer, durationMs: number): InProcessResult[] {
  const kek = SecretKey.copyFrom(randomBytes(32), true);
  const ref = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
  const context = {};
  const lines = (suite: BlockSuite, tail: string) => {
    const envelope = sealBlock({ ref, kek, plaintext: payload, context, suite });
    return [
      { name: SEAL_BLOCK + tail, op: () => sealBlock({ ref, kek, plaintext: payload, context, suite }) },
      { name: OPEN_BLOCK + tail, op: () => openBlock(parseEnvelope(envelope), kek, context) },
    ];
  };
  try {
    return timeInterleaved(
      [{ name: RAW_GCM, op: rawAesGcmOp(payload) }, ...lines(DEFAULT_BLOCK_SUITE, ''), ...lines(1, ' suite 1')],
      durationMs,
    );
  } finally {
    kek.destroy();
  }
}
