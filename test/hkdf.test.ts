import test from 'ava';
import { hkdfSync, randomBytes, randomInt } from 'node:crypto';
import { hkdfSha256 } from '../src/crypto/hkdf.js';

const hex = (s: string) => Buffer.from(s, 'hex');
const range = (from: number, to: number) => Buffer.from(Array.from({ length: to - from + 1 }, (_, i) => from + i));

// RFC 5869, appendix A: the three SHA-256 test cases.
const RFC5869 = [
  {
    name: 'A.1 basic',
    ikm: Buffer.alloc(22, 0x0b),
    salt: range(0x00, 0x0c),
    info: range(0xf0, 0xf9),
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs and outputs',
    ikm: range(0x00, 0x4f),
    salt: range(0x60, 0xaf),
    info: range(0xb0, 0xff),
    okm: 'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: Buffer.alloc(22, 0x0b),
    salt: Buffer.alloc(0),
    info: Buffer.alloc(0),
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

for (const v of RFC5869) {
  test(`HKDF-SHA256 gives the RFC 5869 output and hkdfSync's: ${v.name}`, (t) => {
    const length = v.okm.length / 2;
    t.deepEqual(hkdfSha256(v.ikm, v.salt, v.info, length), hex(v.okm));
    t.deepEqual(
      hkdfSha256(v.ikm, v.salt, v.info, length),
      Buffer.from(hkdfSync('sha256', v.ikm, v.salt, v.info, length)),
    );
  });
}

test('HKDF-SHA256 equals hkdfSync on random inputs of every output length class', (t) => {
  for (const length of [1, 16, 31, 32, 33, 64, 65, 100, 255 * 32]) {
    for (let i = 0; i < 5; i++) {
      const ikm = randomBytes(randomInt(1, 80));
      const salt = randomBytes(randomInt(0, 80));
      const info = randomBytes(randomInt(0, 80));
      t.deepEqual(
        hkdfSha256(ikm, salt, info, length),
        Buffer.from(hkdfSync('sha256', ikm, salt, info, length)),
        `length ${length}`,
      );
    }
  }
});

test('HKDF-SHA256 refuses an output length outside 1..8160', (t) => {
  for (const length of [0, -1, 1.5, 255 * 32 + 1])
    t.throws(() => hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), length), { instanceOf: RangeError });
});

test('HKDF-SHA256 returns a buffer of its own, off the shared pool', (t) => {
  for (const length of [32, 64]) {
    const out = hkdfSha256(randomBytes(32), Buffer.alloc(0), Buffer.alloc(0), length);
    t.is(out.byteOffset, 0);
    t.is(out.buffer.byteLength, length);
  }
});
