/**
 * Single-block envelopes of suite 2 (docs/envelope-format.md §3.3): the published vectors both through
 * unwrapd's code and through an independent implementation of the spec with raw node:crypto (seal, and a
 * reader that reports which check refuses each negative vector); suite 1 still opened and rewrapped; the
 * suite kept by rewrap; a suite byte switched between 1 and 2 refused with the generic failure; and the
 * `envelopeWriteSuite` setting, through a real daemon.
 */
import test, { type ExecutionContext } from 'ava';
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import type { EncryptionContext } from '../src/crypto/encryption-context.js';
import {
  deriveWrappingKey,
  openBlock,
  parseEnvelope,
  parseEnvelopeFor,
  rewrapEnvelope,
  sealBlock,
  type BlockSuite,
  type EnvelopeRef,
} from '../src/crypto/envelope.js';
import { envelopeKind } from '../src/crypto/segmented-format.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { buildVectors } from '../scripts/gen-envelope-vectors.js';
import { buildSuite2Vectors } from '../scripts/gen-envelope-suite2-vectors.js';
import type { BlockPositiveVector, NegativeVector } from '../scripts/vector-types.js';
import { specContext, specKekInfo, u16 } from './helpers/spec-encoding.js';
import { createPolicy, startTestDaemon } from './helpers/test-daemon.js';

const read = (name: string): string => readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8');
const vectorsText = read('envelope-v1-suite2.json');
const vectors = JSON.parse(vectorsText) as { positive: BlockPositiveVector[]; negative: NegativeVector[] };
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

const IK = SecretKey.copyFrom(randomBytes(32));
const REF: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-mail-01', keyVersion: 1 };
const CTX: EncryptionContext = { mailbox: 'alice@contoso.example' };

function assertDecryptionFailed(t: ExecutionContext, fn: () => unknown, message?: string): void {
  const err = t.throws(fn, { instanceOf: UnwrapdError }, message);
  t.is(err?.code, 'decryption_failed', message);
  t.is(err?.message, DECRYPTION_FAILED_MESSAGE, message);
}

function seal(suite: BlockSuite | undefined, plaintext: Buffer, ref: EnvelopeRef = REF): Buffer {
  const kek = deriveWrappingKey(IK, ref);
  try {
    return sealBlock({ ref, kek, plaintext, context: CTX, suite });
  } finally {
    kek.destroy();
  }
}

function open(envelope: Buffer, tenant = REF.tenant, ik = IK, context = CTX): Buffer {
  const parsed = parseEnvelopeFor(tenant, envelope);
  const kek = deriveWrappingKey(ik, parsed);
  try {
    return openBlock(parsed, kek, context);
  } finally {
    kek.destroy();
  }
}

// ---- an independent implementation of the spec -----------------------------------------------------------

/** §3.1: the KEK, from the intermediate key and the ids. */
function specKek(ik: Buffer, tenant: string, policyId: string, keyVersion: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ik, Buffer.alloc(0), specKekInfo(tenant, policyId, keyVersion), 32));
}

/** §3.3: contentKey || commitment. Suite 2: SHA-512(u32(1) || DK || "unwrapd/v1 suite 2 block keys" || nonce). */
function specBlockKeys(suite: number, dk: Buffer, nonce: Buffer): Buffer {
  if (suite === 1) return Buffer.from(hkdfSync('sha256', dk, nonce, Buffer.from('unwrapd/v1 block keys'), 64));
  const counter = Buffer.from([0, 0, 0, 1]);
  return createHash('sha512').update(counter).update(dk).update('unwrapd/v1 suite 2 block keys').update(nonce).digest();
}

function specSeal(v: BlockPositiveVector): { envelope: Buffer; okm: Buffer; wrapped: Buffer; kek: Buffer } {
  const tenant = Buffer.from(v.tenant, 'ascii');
  const policy = Buffer.from(v.policyId, 'ascii');
  const version = Buffer.alloc(4);
  version.writeUInt32BE(v.keyVersion);
  const kek = specKek(hex(v.intermediateKey), v.tenant, v.policyId, v.keyVersion);
  const kw = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
  const wrapped = Buffer.concat([kw.update(hex(v.dataKey)), kw.final()]);
  const nonce = hex(v.nonce);
  const okm = specBlockKeys(2, hex(v.dataKey), nonce);
  const fixedHeader = Buffer.concat([
    Buffer.from([0x55, 0x57, 0x01, 0x02, 0x00, tenant.length]),
    tenant,
    nonce,
    okm.subarray(32),
  ]);
  const gcm = createCipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
  gcm.setAAD(Buffer.concat([fixedHeader, specContext(v.context)]));
  const ct = Buffer.concat([gcm.update(hex(v.plaintext)), gcm.final()]);
  const wrapSection = Buffer.concat([Buffer.from([policy.length]), policy, version, u16(40), wrapped]);
  return { envelope: Buffer.concat([fixedHeader, wrapSection, ct, gcm.getAuthTag()]), okm, wrapped, kek };
}

/**
 * A literal reading of §6 and §3.7 with raw node:crypto: the plaintext, or the first check that refuses
 * (named as in the vectors' `rejectedBy`). The suite byte picks the derivation.
 */
function specOpen(v: NegativeVector | BlockPositiveVector, tenantOf: string): { plaintext: Buffer } | { fail: string } {
  const env = hex(v.envelope);
  const idOk = (b: Buffer) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(b.toString('latin1'));
  if (env.length < 115 || env[0] !== 0x55 || env[1] !== 0x57 || env[2] !== 1 || env[4] !== 0) return { fail: 'parse' };
  const suite = env[3] as number;
  if (suite !== 1 && suite !== 2) return { fail: 'parse' };
  const t = env[5] as number;
  const F = 50 + t;
  if (F + 1 > env.length) return { fail: 'parse' };
  const tenant = env.subarray(6, 6 + t);
  const p = env[F] as number;
  if (F + 47 + p + 16 > env.length || !idOk(tenant)) return { fail: 'parse' };
  const policy = env.subarray(F + 1, F + 1 + p);
  const version = env.subarray(F + 1 + p, F + 5 + p);
  if (!idOk(policy) || version.readUInt32BE() === 0 || env.readUInt16BE(F + 5 + p) !== 40) return { fail: 'parse' };
  if (tenant.toString('latin1') !== tenantOf) return { fail: 'tenant' };
  const kek = specKek(hex(v.intermediateKey), tenantOf, policy.toString('latin1'), version.readUInt32BE());
  let dk: Buffer;
  try {
    const kw = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    dk = Buffer.concat([kw.update(env.subarray(F + 7 + p, F + 47 + p)), kw.final()]);
  } catch {
    return { fail: 'unwrap' };
  }
  if (dk.length !== 32) return { fail: 'data key length' };
  const nonce = env.subarray(6 + t, 18 + t);
  const okm = specBlockKeys(suite, dk, nonce);
  if (!okm.subarray(32).equals(env.subarray(18 + t, F))) return { fail: 'commitment' };
  try {
    const gcm = createDecipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
    gcm.setAAD(Buffer.concat([env.subarray(0, F), specContext(v.context)]));
    gcm.setAuthTag(env.subarray(env.length - 16));
    return { plaintext: Buffer.concat([gcm.update(env.subarray(F + 47 + p, env.length - 16)), gcm.final()]) };
  } catch {
    return { fail: 'tag' };
  }
}

// ---- the vectors -----------------------------------------------------------------------------------------

test('suite 2 vectors: the generators reproduce both published single-block files byte for byte', (t) => {
  const digest = (s: string) => createHash('sha256').update(s).digest('hex');
  t.is(digest(JSON.stringify(buildSuite2Vectors(), null, 2) + '\n'), digest(vectorsText));
  t.is(digest(JSON.stringify(buildVectors(), null, 2) + '\n'), digest(read('envelope-v1.json')));
});

test('suite 2 vectors: positives of every size and context, and the negatives the format needs', (t) => {
  const sizes = new Set(vectors.positive.map((v) => v.plaintext.length / 2));
  for (const s of [0, 1, 17, 100]) t.true(sizes.has(s), `${s} B`);
  t.true(vectors.positive.every((v) => hex(v.envelope)[3] === 2));
  const kinds = new Set(vectors.negative.map((v) => v.rejectedBy));
  t.deepEqual([...kinds].sort(), ['commitment', 'data key length', 'parse', 'tag', 'tenant', 'unwrap']);
  const names = vectors.negative.map((v) => v.name);
  for (const name of ['commitment: first byte xor 0x01', 'wrapped data key: last byte xor 0x01', 'suite 1'])
    t.true(names.includes(name), name);
  t.true(names.some((n) => n.startsWith('tag:')));
});

for (const v of vectors.positive) {
  test(`suite 2 vectors: sealBlock with the fixed randomness gives the exact envelope (${v.name})`, (t) => {
    const ref = { tenant: v.tenant, policyId: v.policyId, keyVersion: v.keyVersion };
    const kek = deriveWrappingKey(SecretKey.copyFrom(hex(v.intermediateKey)), ref);
    const queue = [hex(v.dataKey), hex(v.nonce)];
    const env = sealBlock({ ref, kek, plaintext: hex(v.plaintext), context: v.context, random: () => queue.shift()! });
    t.is(env.toString('hex'), v.envelope, 'suite 2 is the default');
    t.is(open(env, v.tenant, SecretKey.copyFrom(hex(v.intermediateKey)), v.context).toString('hex'), v.plaintext);
  });

  test(`suite 2 vectors: an independent implementation of the spec seals and opens it (${v.name})`, (t) => {
    const { envelope, okm, wrapped, kek } = specSeal(v);
    t.is(kek.toString('hex'), v.derived.kek);
    t.is(wrapped.toString('hex'), v.derived.wrappedDataKey);
    const kdfInput = Buffer.concat([
      Buffer.from('00000001', 'hex'),
      hex(v.dataKey),
      Buffer.from('unwrapd/v1 suite 2 block keys', 'ascii'),
      hex(v.nonce),
    ]);
    t.is(kdfInput.length, 77);
    t.is(kdfInput.toString('hex'), v.derived.kdfInput ?? '(absent)');
    t.is(okm.subarray(0, 32).toString('hex'), v.derived.contentKey);
    t.is(okm.subarray(32).toString('hex'), v.derived.commitment);
    t.is(envelope.toString('hex'), v.envelope);
    t.deepEqual(specOpen(v, v.tenant), { plaintext: hex(v.plaintext) });
  });
}

for (const v of vectors.negative) {
  test(`suite 2 vectors: negative vector fails with the generic error (${v.name})`, (t) => {
    assertDecryptionFailed(t, () =>
      open(hex(v.envelope), v.tenant!, SecretKey.copyFrom(hex(v.intermediateKey)), v.context),
    );
    t.deepEqual(specOpen(v, v.tenant!), { fail: v.rejectedBy }, 'the spec refuses it at the check the file names');
  });
}

test('suite 1 vectors: the independent reader opens every positive and refuses every negative at its named check', (t) => {
  const v1 = JSON.parse(read('envelope-v1.json')) as { positive: BlockPositiveVector[]; negative: NegativeVector[] };
  for (const v of v1.positive) t.deepEqual(specOpen(v, v.tenant), { plaintext: hex(v.plaintext) }, v.name);
  for (const v of v1.negative) t.deepEqual(specOpen(v, v.tenant!), { fail: v.rejectedBy }, v.name);
});

// ---- both suites -----------------------------------------------------------------------------------------

test('suites: sealBlock writes suite 2 by default and suite 1 when asked; both open and are block envelopes', (t) => {
  const pt = randomBytes(300);
  for (const [suite, byte] of [
    [undefined, 2],
    [2, 2],
    [1, 1],
  ] as const) {
    const env = seal(suite, pt);
    t.is(env[3], byte);
    t.is(parseEnvelope(env).suite, byte);
    t.is(envelopeKind(env), 'block');
    t.deepEqual(open(env), pt);
  }
});

test('suites: sealBlock refuses an unknown suite as a programming error, before drawing randomness', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  let drawn = 0;
  for (const suite of [0, 3, '2']) {
    const err = t.throws(
      () =>
        sealBlock({
          ref: REF,
          kek,
          plaintext: Buffer.alloc(1),
          context: {},
          suite: suite as BlockSuite,
          random: (n) => (drawn++, randomBytes(n)),
        }),
      { instanceOf: UnwrapdError },
    );
    t.is(err?.code, 'internal');
  }
  t.is(drawn, 0);
});

test('suites: rewrap keeps the suite, and a suite 1 envelope still rewraps and opens', (t) => {
  const pt = randomBytes(64);
  const to: EnvelopeRef = { ...REF, policyId: 'dep-mail-02', keyVersion: 3 };
  for (const suite of [1, 2] as const) {
    const parsed = parseEnvelope(seal(suite, pt));
    const fromKek = deriveWrappingKey(IK, parsed);
    const moved = rewrapEnvelope(parsed, fromKek, { ref: to, kek: deriveWrappingKey(IK, to) });
    const p2 = parseEnvelope(moved);
    t.is(p2.suite, suite);
    t.deepEqual(p2.fixedHeader, parsed.fixedHeader);
    t.deepEqual(p2.body, parsed.body);
    t.deepEqual(open(moved), pt);
  }
});

test('suites: a suite byte switched 1 <-> 2 fails with the generic error, on open and on rewrap', (t) => {
  const to: EnvelopeRef = { ...REF, keyVersion: 2 };
  for (const suite of [1, 2] as const) {
    const env = seal(suite, randomBytes(40));
    env[3] = suite === 1 ? 2 : 1;
    assertDecryptionFailed(t, () => open(env), `suite ${suite} read as the other`);
    const parsed = parseEnvelope(env);
    assertDecryptionFailed(t, () =>
      rewrapEnvelope(parsed, deriveWrappingKey(IK, parsed), { ref: to, kek: deriveWrappingKey(IK, to) }),
    );
  }
  for (const byte of [0, 3, 0xff]) {
    const env = seal(2, randomBytes(8));
    env[3] = byte;
    assertDecryptionFailed(t, () => open(env), `suite byte ${byte}`);
    t.is(envelopeKind(env), 'unknown');
  }
});

test('suites: suite 2 is block-only; a segmented prefix with suite 2 is not a known envelope', (t) => {
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 1, 2, 0])), 'block');
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 1, 2, 1])), 'unknown');
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 2, 2, 1])), 'unknown');
});

// ---- the setting, through a real daemon ------------------------------------------------------------------

test('envelopeWriteSuite: a daemon set to 1 writes suite 1 from Encrypt and EncryptBatch and still reads suite 2; the default writes 2', async (t) => {
  const old = await startTestDaemon({ envelopeWriteSuite: 1, hedgeDelayMs: 60_000 });
  t.teardown(() => old.stop());
  const byDefault = await startTestDaemon({ hedgeDelayMs: 60_000 });
  t.teardown(() => byDefault.stop());
  await createPolicy(old.client, 'mail');
  await createPolicy(byDefault.client, 'mail');
  const req = { tenant: 'demo', policyId: 'mail', context: CTX };
  const pt = randomBytes(100);

  const one = (await old.client.encrypt({ ...req, plaintext: pt })).envelope;
  const batch = await old.client.encryptBatch({ ...req, items: [{ plaintext: pt, context: CTX }] });
  const two = (await byDefault.client.encrypt({ ...req, plaintext: pt })).envelope;
  const twos = await byDefault.client.encryptBatch({ ...req, items: [{ plaintext: pt, context: CTX }] });
  t.is(one[3], 1);
  t.is(batch.results[0]!.ok!.envelope[3], 1);
  t.is(two[3], 2);
  t.is(twos.results[0]!.ok!.envelope[3], 2);
  t.deepEqual((await old.client.decrypt({ tenant: 'demo', envelope: one, context: CTX })).plaintext, pt);

  // A suite 2 envelope under the suite-1 daemon's own key (as a newer instance of its fleet writes them): it
  // opens there, and its rewrap keeps suite 2.
  const ref: EnvelopeRef = { tenant: 'demo', policyId: 'mail', keyVersion: 1 };
  const lease = { tenant: 'demo', purpose: 'user' as const, requestId: '', signal: new AbortController().signal };
  const newer = await old.daemon.crypto.leases.withKey(
    ref,
    'write',
    lease,
    (kek) => sealBlock({ ref, kek, plaintext: pt, context: CTX, suite: 2 }),
    0,
  );
  t.deepEqual((await old.client.decrypt({ tenant: 'demo', envelope: newer, context: CTX })).plaintext, pt);
  const moved = await old.client.rewrap({ tenant: 'demo', envelope: newer, context: CTX, targetPolicyId: '' });
  t.is(moved.envelope[3], 2);
  t.deepEqual((await old.client.decrypt({ tenant: 'demo', envelope: moved.envelope, context: CTX })).plaintext, pt);
});
