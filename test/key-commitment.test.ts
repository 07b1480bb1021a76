/**
 * Key commitment: one ciphertext must not open under two keys.
 *
 * AES-GCM alone is not key-committing. Its tag is
 *
 *     T = GHASH_H(A, C) xor E_K(J0),   H = E_K(0^128),   J0 = nonce || 0^31 || 1,
 *     GHASH_H(A, C) = X_1 H^n + X_2 H^(n-1) + ... + X_n H        (arithmetic in GF(2^128))
 *
 * where X_1..X_n are the AAD blocks, the ciphertext blocks and the final length block. GHASH is linear in
 * each ciphertext block. Fix everything but one ciphertext block C_f (at exponent e: it is followed by
 * m - f - 1 more ciphertext blocks and the length block, so e = m - f + 1 with 0-based f). With C_f = 0,
 * let g_i be the resulting tag under key K_i (i = 1, 2). Then with C_f = D the tags are
 *
 *     T_i(D) = g_i + D * H_i^e
 *
 * and T_1(D) = T_2(D) has the solution D = (g_1 + g_2) * (H_1^e + H_2^e)^-1 (in characteristic 2, + = -).
 * So (C, T) with that block is a valid AES-GCM ciphertext under both K1 and K2, with the same nonce and AAD,
 * decrypting to two different plaintexts ("invisible salamanders", Dodis et al. 2018; "partitioning oracle
 * attacks", Len et al. 2021). GF(2^128) multiply uses GCM's reflected bit order (NIST SP 800-38D, Alg. 1);
 * the inverse is x^(2^128 - 2).
 *
 * The envelope defeats this: the content key K and the commitment both come from one derivation of the data
 * key (HKDF-SHA256 in suite 1, the one-step KDF with SHA-512 in suite 2; each suite is attacked below),
 * and the fixed header (which is the AAD and carries the commitment) is checked against the commitment
 * derived from the unwrapped data key before GCM is even run. The attacker setup here:
 *   - DK1, DK2: two data keys; same nonce; K1, K2 their content keys; commitment1 from DK1.
 *   - fixed header F = magic .. tenant || nonce || commitment1; AAD = F || encodeContext(ctx) (same for both).
 *   - (C, T) crafted to be valid under K1 and K2 with that AAD.
 *   - E1 = F || wrap(DK1) || C || T  -> opens (to P1).
 *   - E2 = F || wrap(DK2) || C || T  -> raw GCM would accept it (to P2 != P1), but openBlock must throw
 *     decryptionFailed because DK2's commitment is not commitment1.
 */
import test from 'ava';
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import { encodeContext, type EncryptionContext } from '../src/crypto/encryption-context.js';
import {
  deriveWrappingKey,
  openBlock,
  parseEnvelope,
  sealBlock,
  type BlockSuite,
  type EnvelopeRef,
} from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';

// ---- GF(2^128) in GCM bit order --------------------------------------------------------------------------

const R = 0xe1n << 120n;
/** The field's 1: GCM stores x^0 in the leftmost (most significant) bit. */
const ONE = 1n << 127n;

function gmul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
}

function gpow(x: bigint, e: bigint): bigint {
  let result = ONE;
  let base = x;
  while (e > 0n) {
    if (e & 1n) result = gmul(result, base);
    base = gmul(base, base);
    e >>= 1n;
  }
  return result;
}

const ginv = (x: bigint): bigint => gpow(x, (1n << 128n) - 2n);
const toBig = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'));
const toBlock = (x: bigint): Buffer => Buffer.from(x.toString(16).padStart(32, '0'), 'hex');

function blocks(data: Uint8Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < data.length; i += 16) {
    const b = Buffer.alloc(16);
    b.set(data.subarray(i, Math.min(i + 16, data.length)));
    out.push(toBig(b));
  }
  return out;
}

function ghash(h: bigint, aad: Uint8Array, ct: Uint8Array): bigint {
  const len = Buffer.alloc(16);
  len.writeBigUInt64BE(BigInt(aad.length) * 8n, 0);
  len.writeBigUInt64BE(BigInt(ct.length) * 8n, 8);
  let y = 0n;
  for (const x of [...blocks(aad), ...blocks(ct), toBig(len)]) y = gmul(y ^ x, h);
  return y;
}

function aesBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-256-ecb', key, null);
  c.setAutoPadding(false);
  return c.update(block);
}

function gcmTag(key: Buffer, nonce: Buffer, aad: Uint8Array, ct: Uint8Array): Buffer {
  const h = toBig(aesBlock(key, Buffer.alloc(16)));
  const j0 = Buffer.concat([nonce, Buffer.from([0, 0, 0, 1])]);
  return toBlock(ghash(h, aad, ct) ^ toBig(aesBlock(key, j0)));
}

/** Raw AES-256-GCM decryption with node's decipher; undefined if the tag does not verify. */
function rawGcmOpen(key: Buffer, nonce: Buffer, aad: Buffer, ct: Buffer, tag: Buffer): Buffer | undefined {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(tag);
  const pt = d.update(ct);
  try {
    d.final();
    return pt;
  } catch {
    return undefined;
  }
}

// ---- sanity of the test's own machinery -----------------------------------------------------------------

test('GF(2^128): x * x^-1 = 1 and multiplication commutes', (t) => {
  for (let i = 0; i < 3; i++) {
    const a = toBig(randomBytes(16)) || 1n;
    const b = toBig(randomBytes(16));
    t.is(gmul(a, ginv(a)), ONE);
    t.is(gmul(a, b), gmul(b, a));
    t.is(gmul(a, ONE), a);
  }
});

test('the BigInt GHASH reproduces node AES-GCM tags', (t) => {
  for (const [aadLen, ctLen] of [
    [0, 0],
    [13, 17],
    [100, 48],
  ] as const) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(aadLen);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(randomBytes(ctLen)), c.final()]);
    t.deepEqual(gcmTag(key, nonce, aad, ct), c.getAuthTag());
  }
});

// ---- the attack ------------------------------------------------------------------------------------------

/** (C, T) valid under both keys for the given nonce and AAD. `m` ciphertext blocks; block `f` is solved for. */
function craftAmbiguousCiphertext(k1: Buffer, k2: Buffer, nonce: Buffer, aad: Buffer, m = 3, f = 0) {
  const ct = randomBytes(16 * m);
  ct.fill(0, 16 * f, 16 * f + 16);
  const g1 = toBig(gcmTag(k1, nonce, aad, ct));
  const g2 = toBig(gcmTag(k2, nonce, aad, ct));
  const e = BigInt(m - f + 1);
  const h1e = gpow(toBig(aesBlock(k1, Buffer.alloc(16))), e);
  const h2e = gpow(toBig(aesBlock(k2, Buffer.alloc(16))), e);
  const d = gmul(g1 ^ g2, ginv(h1e ^ h2e));
  toBlock(d).copy(ct, 16 * f);
  const tag = gcmTag(k1, nonce, aad, ct);
  return { ct, tag };
}

/** The block keys of docs/envelope-format.md §3.3, written from the spec with node:crypto. */
function blockKeys(suite: BlockSuite, dk: Buffer, nonce: Buffer): { contentKey: Buffer; commitment: Buffer } {
  const okm =
    suite === 1
      ? Buffer.from(hkdfSync('sha256', dk, nonce, Buffer.from('unwrapd/v1 block keys'), 64))
      : createHash('sha512')
          .update(Buffer.from([0, 0, 0, 1]))
          .update(dk)
          .update('unwrapd/v1 suite 2 block keys')
          .update(nonce)
          .digest();
  return { contentKey: okm.subarray(0, 32), commitment: okm.subarray(32) };
}

function sealWith(
  ref: EnvelopeRef,
  kek: SecretKey,
  dk: Buffer,
  nonce: Buffer,
  pt: Buffer,
  context: EncryptionContext,
  suite?: BlockSuite,
) {
  const queue = [Buffer.from(dk), Buffer.from(nonce)];
  return parseEnvelope(sealBlock({ ref, kek, plaintext: pt, context, suite, random: () => queue.shift() as Buffer }));
}

for (const suite of [1, 2] as const)
  test(`key commitment: a GCM ciphertext valid under two content keys opens under only the committed data key (suite ${suite})`, (t) => {
    const ik = SecretKey.copyFrom(randomBytes(32));
    const ref: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-mail-01', keyVersion: 1 };
    const kek = deriveWrappingKey(ik, ref);
    const context: EncryptionContext = { mailbox: 'alice@contoso.example' };
    const nonce = randomBytes(12);
    const dk1 = randomBytes(32);
    const dk2 = randomBytes(32);
    const k1 = blockKeys(suite, dk1, nonce);
    const k2 = blockKeys(suite, dk2, nonce);
    t.notDeepEqual(k1.contentKey, k2.contentKey);

    // Genuine envelopes give us the fixed header carrying DK1's commitment, and the wrap sections of DK1 and
    // DK2 under the legitimate KEK (an insider who can seal under this policy can obtain both).
    const e1 = sealWith(ref, kek, dk1, nonce, randomBytes(48), context, suite);
    const e2 = sealWith(ref, kek, dk2, nonce, randomBytes(48), context, suite);
    t.is(e1.suite, suite);
    t.deepEqual(e1.commitment, k1.commitment);
    t.deepEqual(e2.commitment, k2.commitment);
    const fixedHeader = e1.fixedHeader; // carries commitment1
    const aad = Buffer.concat([fixedHeader, encodeContext(context)]);

    const { ct, tag } = craftAmbiguousCiphertext(k1.contentKey, k2.contentKey, nonce, aad);

    // 1. The crafted (C, T) is genuinely ambiguous for AES-GCM: node's own decipher accepts it under BOTH keys,
    //    yielding two different plaintexts.
    const p1 = rawGcmOpen(k1.contentKey, nonce, aad, ct, tag);
    const p2 = rawGcmOpen(k2.contentKey, nonce, aad, ct, tag);
    t.truthy(p1, 'raw AES-GCM accepts (C, T) under content key 1');
    t.truthy(p2, 'raw AES-GCM accepts (C, T) under content key 2');
    t.notDeepEqual(p1, p2);

    // 2. The envelope with DK1's wrap opens, to P1.
    const good = parseEnvelope(Buffer.concat([fixedHeader, e1.wrapSection, ct, tag]));
    t.deepEqual(openBlock(good, kek, context), p1);

    // 3. The same header (commitment1), same C and T, but DK2's wrap: the KWP unwrap succeeds (DK2 was wrapped
    //    under this very KEK) and GCM would accept, yet the commitment check rejects it.
    const evil = parseEnvelope(Buffer.concat([fixedHeader, e2.wrapSection, ct, tag]));
    const err = t.throws(() => openBlock(evil, kek, context), { instanceOf: UnwrapdError });
    t.is(err?.code, 'decryption_failed');
    t.is(err?.message, DECRYPTION_FAILED_MESSAGE);

    // 4. Nor does re-labelling help: DK2's own header (commitment2) changes the AAD, so (C, T) fails GCM.
    const relabelled = parseEnvelope(Buffer.concat([e2.fixedHeader, e2.wrapSection, ct, tag]));
    t.throws(() => openBlock(relabelled, kek, context), {
      instanceOf: UnwrapdError,
      message: DECRYPTION_FAILED_MESSAGE,
    });
  });

test('key commitment: the construction also works with the free block last and a 5-block ciphertext', (t) => {
  const nonce = randomBytes(12);
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const aad = randomBytes(77);
  const { ct, tag } = craftAmbiguousCiphertext(k1, k2, nonce, aad, 5, 4);
  t.truthy(rawGcmOpen(k1, nonce, aad, ct, tag));
  t.truthy(rawGcmOpen(k2, nonce, aad, ct, tag));
});

test("key commitment: a header with another data key's wrap section never opens, though that key unwraps", (t) => {
  // With the same nonce and header, many different wrapped data keys (all valid under the KEK) are tried;
  // none passes, although each unwraps fine.
  const ik = SecretKey.copyFrom(randomBytes(32));
  const ref: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-mail-01', keyVersion: 1 };
  const kek = deriveWrappingKey(ik, ref);
  const nonce = randomBytes(12);
  const base = sealWith(ref, kek, randomBytes(32), nonce, Buffer.from('hello'), {});
  t.deepEqual(openBlock(base, kek, {}), Buffer.from('hello'));
  for (let i = 0; i < 50; i++) {
    const other = sealWith(ref, kek, randomBytes(32), nonce, Buffer.from('hello'), {});
    const mixed = parseEnvelope(Buffer.concat([base.fixedHeader, other.wrapSection, base.body]));
    t.throws(() => openBlock(mixed, kek, {}), { instanceOf: UnwrapdError, message: DECRYPTION_FAILED_MESSAGE });
  }
});
