import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import type { EncryptionContext } from '../src/crypto/encryption-context.js';
import { deriveWrappingKey, openBlock, parseEnvelope, sealBlock, type EnvelopeRef } from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';

/**
 * Tampering with any part of an envelope must fail with the one generic decryptionFailed() and never return
 * bytes. Opening follows the real flow: parse, derive the KEK from the intermediate key for the ids found in
 * the (possibly tampered) envelope, open. So a flipped tenant, policy or version bit yields a KEK that cannot
 * unwrap the data key, exactly as in production.
 */

const IK = SecretKey.copyFrom(randomBytes(32));
const REF_A: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-a', keyVersion: 1 };
const REF_B: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-b', keyVersion: 1 };
const CTX: EncryptionContext = { mailbox: 'alice@contoso.example' };
const PT = randomBytes(40);

function seal(ref: EnvelopeRef, plaintext: Uint8Array = PT): Buffer {
  const kek = deriveWrappingKey(IK, ref);
  try {
    return sealBlock({ ref, kek, plaintext, context: CTX });
  } finally {
    kek.destroy();
  }
}

function open(envelope: Uint8Array, ik: SecretKey = IK): Buffer {
  const parsed = parseEnvelope(envelope);
  const kek = deriveWrappingKey(ik, parsed);
  try {
    return openBlock(parsed, kek, CTX);
  } finally {
    kek.destroy();
  }
}

/** Returns a description of what went wrong, or undefined if `fn` threw exactly decryptionFailed(). */
function failureProblem(fn: () => Buffer): string | undefined {
  try {
    const out = fn();
    return `returned ${out.length} bytes`;
  } catch (err) {
    if (!(err instanceof UnwrapdError)) return `threw ${String(err)}`;
    if (err.code !== 'decryption_failed') return `threw code ${err.code}`;
    if (err.message !== DECRYPTION_FAILED_MESSAGE) return `threw message ${err.message}`;
    return undefined;
  }
}

function assertAllFail(t: ExecutionContext, cases: Array<[string, () => Buffer]>): void {
  const problems = cases.flatMap(([name, fn]) => {
    const p = failureProblem(fn);
    return p === undefined ? [] : [`${name}: ${p}`];
  });
  t.deepEqual(problems, [], `${problems.length} of ${cases.length} tampered envelopes did not fail correctly`);
}

test('sanity: the untampered envelope opens', (t) => {
  t.deepEqual(open(seal(REF_A)), PT);
});

test('tamper: flipping any single bit of any byte fails with decryptionFailed', (t) => {
  const env = seal(REF_A);
  const cases: Array<[string, () => Buffer]> = [];
  for (let i = 0; i < env.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const c = Buffer.from(env);
      c[i] = (c[i] as number) ^ (1 << bit);
      cases.push([`byte ${i} bit ${bit}`, () => open(c)]);
    }
  }
  t.is(cases.length, env.length * 8);
  assertAllFail(t, cases);
});

test('tamper: xor 0xff and setting to zero of each byte fails', (t) => {
  const env = seal(REF_A);
  const cases: Array<[string, () => Buffer]> = [];
  for (let i = 0; i < env.length; i++) {
    const inv = Buffer.from(env);
    inv[i] = (inv[i] as number) ^ 0xff;
    cases.push([`byte ${i} xor 0xff`, () => open(inv)]);
    if (env[i] !== 0) {
      const z = Buffer.from(env);
      z[i] = 0;
      cases.push([`byte ${i} = 0`, () => open(z)]);
    }
  }
  assertAllFail(t, cases);
});

test('tamper: every truncation length 0..len-1 fails', (t) => {
  const env = seal(REF_A);
  const cases: Array<[string, () => Buffer]> = [];
  for (let n = 0; n < env.length; n++) {
    const c = Buffer.from(env.subarray(0, n));
    cases.push([`first ${n} bytes`, () => open(c)]);
  }
  assertAllFail(t, cases);
});

test('tamper: dropping a prefix (any length 1..len-1) fails', (t) => {
  const env = seal(REF_A);
  const cases: Array<[string, () => Buffer]> = [];
  for (let n = 1; n < env.length; n++) {
    const c = Buffer.from(env.subarray(n));
    cases.push([`without first ${n} bytes`, () => open(c)]);
  }
  assertAllFail(t, cases);
});

test('tamper: appended bytes fail', (t) => {
  const env = seal(REF_A);
  assertAllFail(t, [
    ['append 0x00', () => open(Buffer.concat([env, Buffer.from([0])]))],
    ['append 0xff', () => open(Buffer.concat([env, Buffer.from([0xff])]))],
    ['append 16 zero bytes', () => open(Buffer.concat([env, Buffer.alloc(16)]))],
    ['envelope twice', () => open(Buffer.concat([env, env]))],
  ]);
});

test('tamper: swapping the wrap section between envelopes of two policies fails', (t) => {
  const a = parseEnvelope(seal(REF_A));
  const b = parseEnvelope(seal(REF_B));
  t.deepEqual(open(a.bytes), PT);
  t.deepEqual(open(b.bytes), PT);
  // A's header and body with B's wrap section: parses as policy B, B's KEK unwraps B's data key, but that is
  // not the key A's commitment was made with.
  const aWithB = Buffer.concat([a.fixedHeader, b.wrapSection, a.body]);
  const bWithA = Buffer.concat([b.fixedHeader, a.wrapSection, b.body]);
  t.is(parseEnvelope(aWithB).policyId, 'dep-b');
  assertAllFail(t, [
    ['A header+body, B wrap section', () => open(aWithB)],
    ['B header+body, A wrap section', () => open(bWithA)],
  ]);
});

test('tamper: swapping the fixed header between two envelopes fails', (t) => {
  const a = parseEnvelope(seal(REF_A));
  const a2 = parseEnvelope(seal(REF_A));
  const b = parseEnvelope(seal(REF_B));
  assertAllFail(t, [
    ['header of A2 on A (same policy)', () => open(Buffer.concat([a2.fixedHeader, a.wrapSection, a.body]))],
    ['header of A on A2 (same policy)', () => open(Buffer.concat([a.fixedHeader, a2.wrapSection, a2.body]))],
    ['header of B on A (other policy)', () => open(Buffer.concat([b.fixedHeader, a.wrapSection, a.body]))],
  ]);
});

test('tamper: swapping the body (ciphertext and tag) between envelopes fails', (t) => {
  const a = parseEnvelope(seal(REF_A));
  const a2 = parseEnvelope(seal(REF_A));
  assertAllFail(t, [
    ['body of A2 on A', () => open(Buffer.concat([a.fixedHeader, a.wrapSection, a2.body]))],
    ['tag of A2 on A', () => open(Buffer.concat([a.fixedHeader, a.wrapSection, a.ciphertext, a2.tag]))],
  ]);
});

test('tamper: using the KEK of another version, policy, tenant or intermediate key fails', (t) => {
  const env = seal(REF_A);
  const parsed = parseEnvelope(env);
  const otherIk = SecretKey.copyFrom(randomBytes(32));
  const keks: Array<[string, SecretKey]> = [
    ['other version', deriveWrappingKey(IK, { ...REF_A, keyVersion: 2 })],
    ['other policy', deriveWrappingKey(IK, REF_B)],
    ['other tenant', deriveWrappingKey(IK, { ...REF_A, tenant: 'fabrikam' })],
    ['other intermediate key', deriveWrappingKey(otherIk, REF_A)],
    ['the intermediate key itself', IK],
  ];
  assertAllFail(
    t,
    keks.map(([name, kek]) => [name, () => openBlock(parsed, kek, CTX)]),
  );
});

test('tamper: rewriting the ids in the header to another policy or version fails', (t) => {
  // Re-serialise A's wrap section with B's policy id (same length) and with version 2, keeping A's wrapped key.
  const a = parseEnvelope(seal(REF_A));
  const withPolicyB = Buffer.from(a.bytes);
  withPolicyB.write('dep-b', a.fixedHeader.length + 1, 'latin1');
  const withVersion2 = Buffer.from(a.bytes);
  withVersion2.writeUInt32BE(2, a.fixedHeader.length + 1 + REF_A.policyId.length);
  t.is(parseEnvelope(withPolicyB).policyId, 'dep-b');
  t.is(parseEnvelope(withVersion2).keyVersion, 2);
  assertAllFail(t, [
    ['policy id rewritten', () => open(withPolicyB)],
    ['key version rewritten', () => open(withVersion2)],
  ]);
});

test('tamper: random garbage and random-length inputs fail', (t) => {
  const cases: Array<[string, () => Buffer]> = [];
  for (let i = 0; i < 200; i++) {
    const g = randomBytes(i * 3);
    cases.push([`garbage ${g.length} bytes`, () => open(g)]);
    // garbage behind a valid-looking prefix
    const h = Buffer.concat([Buffer.from([0x55, 0x57, 1, 1, 0, 7]), Buffer.from('contoso'), randomBytes(i * 3)]);
    cases.push([`prefixed garbage ${h.length} bytes`, () => open(h)]);
  }
  assertAllFail(t, cases);
});
