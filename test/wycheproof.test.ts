import test, { type ExecutionContext } from 'ava';
import { createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import { gcmOpen, gcmSealInto, GCM_IV_LENGTH, GCM_KEY_LENGTH, GCM_TAG_LENGTH } from '../src/crypto/aes-gcm.js';
import { kwpUnwrap, kwpWrap, KWP_KEK_LENGTH } from '../src/crypto/aes-kwp.js';
import { hkdfSha256 } from '../src/crypto/hkdf.js';
import { SecretKey } from '../src/crypto/secret-key.js';

/**
 * Every applicable Project Wycheproof vector (test/vectors/wycheproof/, see its README.md) through unwrapd's
 * own primitives: the AES-256-GCM of single-block envelopes (src/crypto/aes-gcm.ts), AES-256-KWP
 * (src/crypto/aes-kwp.ts) and HKDF-SHA256 (src/crypto/hkdf.ts). A valid vector must give exactly its output,
 * an invalid one must be refused with the one generic decryption failure (or RangeError for an HKDF length
 * out of range). Vectors for sizes a primitive does not support (AES-128/192 keys, GCM IVs other than 96 bits)
 * are skipped by an explicit filter, and every test asserts how many it ran, so a broken filter or a changed
 * file cannot silently skip them all.
 */

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}
interface Group {
  keySize?: number;
  ivSize?: number;
  tagSize?: number;
  tests: Vector[];
}
interface VectorFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: Group[];
}

function load(name: string): VectorFile {
  return JSON.parse(readFileSync(new URL(`./vectors/wycheproof/${name}`, import.meta.url), 'utf8')) as VectorFile;
}

/** The vectors of the groups `applies` keeps, and how many the file holds in all (checked against its header). */
function select(t: ExecutionContext, file: VectorFile, applies: (g: Group) => boolean): Vector[] {
  const all = file.testGroups.reduce((n, g) => n + g.tests.length, 0);
  t.is(all, file.numberOfTests, `${file.algorithm}: the file's numberOfTests`);
  return file.testGroups.filter(applies).flatMap((g) => g.tests);
}

const hex = (v: Vector, field: string): Buffer => Buffer.from(v[field] as string, 'hex');
const id = (v: Vector): string => `tcId ${v.tcId} (${v.flags.join(', ') || v.comment})`;
const count = (vs: Vector[], result: Vector['result']): number => vs.filter((v) => v.result === result).length;

/** undefined if `fn` threw exactly the generic decryptionFailed(), else what it did instead. */
function notDecryptionFailed(fn: () => unknown): string | undefined {
  try {
    fn();
    return 'returned';
  } catch (err) {
    if (!(err instanceof UnwrapdError)) return `threw ${String(err)}`;
    if (err.code !== 'decryption_failed' || err.message !== DECRYPTION_FAILED_MESSAGE)
      return `threw ${err.code}: ${err.message}`;
    return undefined;
  }
}

test('AES-256-GCM (96-bit IV, 128-bit tag): every Wycheproof vector of that size, sealed and opened', (t) => {
  const file = load('aes_gcm_test.json');
  const vectors = select(
    t,
    file,
    (g) => g.keySize === 8 * GCM_KEY_LENGTH && g.ivSize === 8 * GCM_IV_LENGTH && g.tagSize === 8 * GCM_TAG_LENGTH,
  );
  // 316 in the file: 66 are AES-256 with a 96-bit IV (39 valid, 27 with a modified tag); the rest are other
  // key sizes or IV sizes (0..2056 bits) that the envelope format never uses.
  t.is(vectors.length, 66);
  t.is(count(vectors, 'valid'), 39);
  t.is(count(vectors, 'invalid'), 27);
  t.is(count(vectors, 'acceptable'), 0);
  const problems: string[] = [];
  for (const v of vectors) {
    const [key, iv, aad, msg, ct, tag] = ['key', 'iv', 'aad', 'msg', 'ct', 'tag'].map((f) => hex(v, f)) as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
      Buffer,
      Buffer,
    ];
    if (v.result === 'valid') {
      const out = Buffer.alloc(msg.length + GCM_TAG_LENGTH);
      gcmSealInto(key, iv, [aad], msg, out, 0);
      if (!out.equals(Buffer.concat([ct, tag]))) problems.push(`${id(v)}: seal gave other bytes`);
      // The AAD split in two parts (as envelopes pass it: fixed header, then context) is the same AAD.
      const cut = aad.length >> 1;
      try {
        const pt = gcmOpen(key, iv, [aad.subarray(0, cut), aad.subarray(cut)], ct, tag);
        if (!pt.equals(msg)) problems.push(`${id(v)}: open gave other bytes`);
      } catch (err) {
        problems.push(`${id(v)}: open threw ${String(err)}`);
      }
    } else {
      const p = notDecryptionFailed(() => gcmOpen(key, iv, [aad], ct, tag));
      if (p !== undefined) problems.push(`${id(v)}: open of an invalid vector ${p}`);
    }
  }
  t.deepEqual(problems, []);
});

test('AES-256-GCM refuses a tag of the wrong size and reports key/IV sizes it does not support', (t) => {
  const key = Buffer.alloc(32, 1);
  const iv = Buffer.alloc(12, 2);
  const out = Buffer.alloc(16 + 5);
  gcmSealInto(key, iv, [], Buffer.from('hello'), out, 0);
  const ct = out.subarray(0, 5);
  const tag = out.subarray(5);
  t.deepEqual(gcmOpen(key, iv, [], ct, tag), Buffer.from('hello'));
  for (const n of [0, 4, 12, 15])
    t.is(
      notDecryptionFailed(() => gcmOpen(key, iv, [], ct, tag.subarray(0, n))),
      undefined,
      `tag of ${n} bytes`,
    );
  t.throws(() => gcmOpen(Buffer.alloc(16), iv, [], ct, tag), { message: /key must be 32 bytes/ });
  t.throws(() => gcmOpen(key, Buffer.alloc(16), [], ct, tag), { message: /IV must be 12 bytes/ });
  t.throws(() => gcmSealInto(key, iv, [], Buffer.from('hello'), Buffer.alloc(20), 0), { message: /too small/ });
});

test('AES-256-KWP: every Wycheproof vector with a 256-bit KEK, wrapped and unwrapped', (t) => {
  const vectors = select(t, load('aes_kwp_test.json'), (g) => g.keySize === 8 * KWP_KEK_LENGTH);
  // 254 in the file: 94 with an AES-256 KEK (25 valid, among them 1..7-byte keys and a round-counter
  // overflow; 69 with modified padding or length); AES-128/192 KEKs are not used by unwrapd.
  t.is(vectors.length, 94);
  t.is(count(vectors, 'valid'), 25);
  t.is(count(vectors, 'invalid'), 69);
  t.is(count(vectors, 'acceptable'), 0);
  const problems: string[] = [];
  for (const v of vectors) {
    const kek = SecretKey.copyFrom(hex(v, 'key'));
    const [msg, ct] = [hex(v, 'msg'), hex(v, 'ct')];
    if (v.result === 'valid') {
      if (!kwpWrap(kek, msg).equals(ct)) problems.push(`${id(v)}: wrap gave other bytes`);
      try {
        if (!kwpUnwrap(kek, ct).equals(msg)) problems.push(`${id(v)}: unwrap gave other bytes`);
      } catch (err) {
        problems.push(`${id(v)}: unwrap threw ${String(err)}`);
      }
    } else {
      const p = notDecryptionFailed(() => kwpUnwrap(kek, ct));
      if (p !== undefined) problems.push(`${id(v)}: unwrap of an invalid vector ${p}`);
    }
    kek.destroy();
  }
  t.deepEqual(problems, []);
});

test('AES-KW (RFC 3394): no Wycheproof KW ciphertext with a 256-bit KEK unwraps as KWP', (t) => {
  // unwrapd has no unpadded AES-KW; what matters is that kwpUnwrap never accepts one (KW's initial value
  // A6A6A6A6A6A6A6A6 is not KWP's A65959A6 || length), valid or not.
  const vectors = select(t, load('aes_wrap_test.json'), (g) => g.keySize === 256);
  t.is(vectors.length, 68);
  t.is(count(vectors, 'valid'), 13);
  t.is(count(vectors, 'acceptable'), 1);
  t.is(count(vectors, 'invalid'), 54);
  const problems: string[] = [];
  for (const v of vectors) {
    const kekBytes = hex(v, 'key');
    const ct = hex(v, 'ct');
    if (v.result === 'valid') {
      // The refusal below means something only if these are real KW wraps: OpenSSL's KW unwraps them.
      const d = createDecipheriv('id-aes256-wrap', kekBytes, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
      if (!Buffer.concat([d.update(ct), d.final()]).equals(hex(v, 'msg'))) problems.push(`${id(v)}: not a KW wrap`);
    }
    const kek = SecretKey.copyFrom(kekBytes);
    const p = notDecryptionFailed(() => kwpUnwrap(kek, ct));
    if (p !== undefined) problems.push(`${id(v)}: kwpUnwrap ${p}`);
    kek.destroy();
  }
  t.deepEqual(problems, []);
});

test('HKDF-SHA256: every Wycheproof vector', (t) => {
  const vectors = select(t, load('hkdf_sha256_test.json'), () => true);
  // All 86 apply (any IKM, salt, info): 83 valid, among them empty salts and the maximal 8160-byte output;
  // 3 ask for 8161 bytes, more than 255 hash lengths, which must be refused.
  t.is(vectors.length, 86);
  t.is(count(vectors, 'valid'), 83);
  t.is(count(vectors, 'invalid'), 3);
  const problems: string[] = [];
  for (const v of vectors) {
    const [ikm, salt, info] = [hex(v, 'ikm'), hex(v, 'salt'), hex(v, 'info')];
    const size = v.size as number;
    if (v.result === 'valid') {
      const okm = hkdfSha256(ikm, salt, info, size);
      if (!okm.equals(hex(v, 'okm'))) problems.push(`${id(v)}: other output`);
    } else {
      try {
        hkdfSha256(ikm, salt, info, size);
        problems.push(`${id(v)}: returned`);
      } catch (err) {
        if (!(err instanceof RangeError)) problems.push(`${id(v)}: threw ${String(err)}`);
      }
    }
  }
  t.deepEqual(problems, []);
});
