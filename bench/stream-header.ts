/**
 * The cost of the authenticated stream header (segmented format v2) per stream open, beside format v1, in
 * one process, interleaved rounds: `node --import=tsx bench/stream-header.ts [--rounds 7] [--iterations 5000]`.
 *
 * "open" = new SegmentOpener + readHeader (strict parse, two copies) + unlock (KWP unwrap of the data key,
 * HKDF, the constant-time checks): everything a DecryptStream does with its header before the first segment,
 * except the KEK lookup (a cache hit, the same for both). "check" = the derivation and the comparisons alone.
 * Prints the median of the rounds in CPU microseconds per operation, and the difference v2 - v1.
 */
import { deriveWrappingKey } from '../src/crypto/envelope.js';
import { parseSegmentedHeader, type SegmentedVersion } from '../src/crypto/segmented-format.js';
import { sealSegmented, SegmentOpener } from '../src/crypto/segmented.js';
import { deriveSegmentKeys, verifyHeader } from '../src/crypto/segment-keys.js';
import { kwpUnwrap } from '../src/crypto/aes-kwp.js';
import { SecretKey } from '../src/crypto/secret-key.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 7);
const N = arg('iterations', 5_000);

const ik = SecretKey.copyFrom(Buffer.alloc(32, 7));
const ref = { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 1 };
const kek = deriveWrappingKey(ik, ref);
const context = { site: 'hr', object: 'report.pdf' };
const envelopes = new Map<SegmentedVersion, Buffer>(
  ([1, 2] as const).map((v) => [
    v,
    sealSegmented({ ref, kek, context, segmentSize: 65536, plaintext: Buffer.alloc(100), formatVersion: v }),
  ]),
);

function open(env: Buffer): void {
  const o = new SegmentOpener({ context });
  const r = o.readHeader(env)!;
  o.unlock(kek);
  o.destroy();
  if (r.rest.length === 0) throw new Error('no segment');
}

function check(env: Buffer): void {
  const h = parseSegmentedHeader(env)!;
  const dk = kwpUnwrap(kek, h.wrappedKey);
  const keys = deriveSegmentKeys(dk, h);
  verifyHeader(keys, h);
  keys.fill(0);
  dk.fill(0);
}

/** CPU time (user + system) per call, in µs: wall time on a shared machine would count other processes' turns. */
function time(fn: (e: Buffer) => void, env: Buffer): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) fn(env);
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / N;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const results: Record<string, number[]> = { 'open v1': [], 'open v2': [], 'check v1': [], 'check v2': [] };
for (const v of [1, 2] as const) time(open, envelopes.get(v)!); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const v of r % 2 ? ([2, 1] as const) : ([1, 2] as const)) {
    results[`open v${v}`]!.push(time(open, envelopes.get(v)!));
    results[`check v${v}`]!.push(time(check, envelopes.get(v)!));
  }
}
const m = Object.fromEntries(Object.entries(results).map(([k, xs]) => [k, median(xs)]));
for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(9)} ${v.toFixed(2)} µs`);
console.log(
  `v2 - v1: open +${(m['open v2']! - m['open v1']!).toFixed(2)} µs, check +${(m['check v2']! - m['check v1']!).toFixed(2)} µs (median of ${ROUNDS} rounds x ${N})`,
);
