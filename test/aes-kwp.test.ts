import test from 'ava';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import { kwpUnwrap, kwpWrap, kwpWrappedLength } from '../src/crypto/aes-kwp.js';
import { SecretKey } from '../src/crypto/secret-key.js';

/**
 * RFC 5649 section 6 vectors use a 192-bit KEK, while kwpWrap is AES-256 only. So: (1) node's
 * id-aes192-wrap-pad is checked against the RFC vectors; (2) an independent, from-the-RFC implementation of
 * KWP over raw AES-ECB (below) is checked against the same vectors; (3) kwpWrap is checked against that
 * reference implementation with 256-bit KEKs for many key lengths.
 */

const RFC5649 = {
  kek: '5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8',
  cases: [
    {
      key: 'c37b7e6492584340bed12207808941155068f738',
      wrapped: '138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a',
    },
    { key: '466f7250617369', wrapped: 'afbeb0f07dfbf5419200f2ccb50bb24f' },
  ],
};

/** RFC 5649 section 4.1, written from the RFC over single-block AES (ECB), independent of OpenSSL's KWP. */
function referenceKwpWrap(kek: Buffer, key: Buffer): Buffer {
  const ecb = `aes-${kek.length * 8}-ecb`;
  const aes = (block: Buffer): Buffer => {
    const c = createCipheriv(ecb, kek, null);
    c.setAutoPadding(false);
    return c.update(block);
  };
  const aiv = Buffer.alloc(8);
  Buffer.from('A65959A6', 'hex').copy(aiv, 0);
  aiv.writeUInt32BE(key.length, 4); // MLI
  const padded = Buffer.alloc(8 * Math.ceil(key.length / 8));
  key.copy(padded);
  const n = padded.length / 8;
  if (n === 1) return aes(Buffer.concat([aiv, padded]));
  // RFC 3394 wrapping process W with the AIV as initial value.
  let a: Buffer = aiv;
  const r: Buffer[] = Array.from({ length: n }, (_, i) => padded.subarray(8 * i, 8 * i + 8));
  for (let j = 0; j <= 5; j++) {
    for (let i = 1; i <= n; i++) {
      const b = aes(Buffer.concat([a, r[i - 1] as Buffer]));
      const t = BigInt(n * j + i);
      a = Buffer.alloc(8);
      a.writeBigUInt64BE(b.readBigUInt64BE(0) ^ t);
      r[i - 1] = b.subarray(8);
    }
  }
  return Buffer.concat([a, ...r]);
}

function assertDecryptionFailed(t: import('ava').ExecutionContext, fn: () => unknown): void {
  const err = t.throws(fn, { instanceOf: UnwrapdError });
  t.is(err?.code, 'decryption_failed');
  t.is(err?.message, DECRYPTION_FAILED_MESSAGE);
}

test('RFC 5649 section 6 vectors: node id-aes192-wrap-pad wraps and unwraps them', (t) => {
  const kek = Buffer.from(RFC5649.kek, 'hex');
  const iv = Buffer.from('A65959A6', 'hex');
  for (const v of RFC5649.cases) {
    const c = createCipheriv('id-aes192-wrap-pad', kek, iv);
    t.is(Buffer.concat([c.update(Buffer.from(v.key, 'hex')), c.final()]).toString('hex'), v.wrapped);
    const d = createDecipheriv('id-aes192-wrap-pad', kek, iv);
    t.is(Buffer.concat([d.update(Buffer.from(v.wrapped, 'hex')), d.final()]).toString('hex'), v.key);
  }
});

test('RFC 5649 section 6 vectors: the reference implementation reproduces them', (t) => {
  const kek = Buffer.from(RFC5649.kek, 'hex');
  for (const v of RFC5649.cases) {
    t.is(referenceKwpWrap(kek, Buffer.from(v.key, 'hex')).toString('hex'), v.wrapped);
  }
});

test('kwpWrap (AES-256) equals the RFC 5649 reference for key lengths 1..72', (t) => {
  for (let len = 1; len <= 72; len++) {
    const kekBytes = randomBytes(32);
    const key = randomBytes(len);
    const wrapped = kwpWrap(SecretKey.copyFrom(kekBytes), key);
    t.is(wrapped.toString('hex'), referenceKwpWrap(kekBytes, key).toString('hex'), `length ${len}`);
    t.is(wrapped.length, kwpWrappedLength(len));
    t.deepEqual(kwpUnwrap(SecretKey.copyFrom(kekBytes), wrapped), key);
  }
});

test('kwpWrap of a 32-byte data key is 40 bytes and deterministic', (t) => {
  const kek = SecretKey.copyFrom(randomBytes(32));
  const dk = randomBytes(32);
  const w = kwpWrap(kek, dk);
  t.is(w.length, 40);
  t.deepEqual(kwpWrap(kek, dk), w);
  t.deepEqual(kwpUnwrap(kek, w), dk);
});

test('kwpUnwrap: any flipped bit fails with decryptionFailed', (t) => {
  const kek = SecretKey.copyFrom(randomBytes(32));
  const w = kwpWrap(kek, randomBytes(32));
  for (let i = 0; i < w.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const c = Buffer.from(w);
      c[i] = (c[i] as number) ^ mask;
      assertDecryptionFailed(t, () => kwpUnwrap(kek, c));
    }
  }
});

test('kwpUnwrap: the wrong KEK fails with decryptionFailed', (t) => {
  const w = kwpWrap(SecretKey.copyFrom(randomBytes(32)), randomBytes(32));
  assertDecryptionFailed(t, () => kwpUnwrap(SecretKey.copyFrom(randomBytes(32)), w));
});

test('kwpUnwrap: malformed lengths (0, 8, 15, 17, 39, 41) fail with decryptionFailed', (t) => {
  const kek = SecretKey.copyFrom(randomBytes(32));
  const w = kwpWrap(kek, randomBytes(32));
  for (const n of [0, 8, 15, 17, 39, 41]) {
    const input = n <= w.length ? w.subarray(0, n) : Buffer.concat([w, Buffer.alloc(n - w.length)]);
    assertDecryptionFailed(t, () => kwpUnwrap(kek, input));
  }
});

test('kwpUnwrap: an RFC 3394 (unpadded, IV A6A6...) wrap is rejected by the KWP integrity check', (t) => {
  const kekBytes = randomBytes(32);
  const c = createCipheriv('id-aes256-wrap', kekBytes, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  const kw = Buffer.concat([c.update(randomBytes(32)), c.final()]);
  t.is(kw.length, 40);
  assertDecryptionFailed(t, () => kwpUnwrap(SecretKey.copyFrom(kekBytes), kw));
});

test('a KEK that is not 32 bytes, an empty key and a destroyed KEK are refused', (t) => {
  t.throws(() => kwpWrap(SecretKey.copyFrom(randomBytes(24)), randomBytes(32)), { message: /must be 32 bytes/ });
  t.throws(() => kwpUnwrap(SecretKey.copyFrom(randomBytes(16)), randomBytes(40)), { message: /must be 32 bytes/ });
  t.throws(() => kwpWrap(SecretKey.copyFrom(randomBytes(32)), Buffer.alloc(0)), { message: /empty key/ });
  const kek = SecretKey.copyFrom(randomBytes(32));
  kek.destroy();
  t.throws(() => kwpWrap(kek, randomBytes(32)), { message: /after destroy/ });
});
