import test from 'ava';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { decodeOaepSha256, OaepDecodingError } from '../src/crypto/rsa-oaep.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const raw = (ct: Buffer) => privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ct);
const oaep = (hash: string, m: Buffer, key = publicKey) =>
  publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, m);

test('OAEP-SHA256 decoding of the raw RSA output gives what privateDecrypt with OAEP gives, for every message length', (t) => {
  for (const length of [0, 1, 16, 31, 32, 33, 64, 190]) {
    const m = randomBytes(length);
    const ct = oaep('sha256', m);
    const key = decodeOaepSha256(raw(ct));
    t.deepEqual(Buffer.from(key.expose()), m, `length ${length}`);
    t.deepEqual(
      privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ct),
      m,
    );
    key.destroy();
  }
});

test('OAEP-SHA256 decoding refuses another key, SHA-1 OAEP, PKCS#1 v1.5 and any flipped byte', (t) => {
  const m = randomBytes(32);
  const refused = (em: Buffer, what: string) =>
    t.throws(() => decodeOaepSha256(em), { instanceOf: OaepDecodingError }, what);
  refused(raw(oaep('sha1', m)), 'SHA-1 OAEP');
  refused(raw(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, m)), 'PKCS#1 v1.5');
  let wrongKey = 0;
  for (let i = 0; i < 8; i++) {
    const ct = oaep('sha256', m, other.publicKey);
    try {
      refused(raw(ct), 'another key');
      wrongKey++;
    } catch {
      // the other key's ciphertext was >= this modulus: privateDecrypt itself refused (also a refusal)
    }
  }
  t.true(wrongKey > 0);
  const em = raw(oaep('sha256', m));
  for (const at of [0, 1, 32, 33, 64, 100, 200, 255]) {
    const bad = Buffer.from(em);
    bad[at]! ^= 0x01;
    refused(bad, `byte ${at} flipped`);
  }
  refused(em.subarray(0, 65), 'too short');
});

test('OAEP-SHA256 decoding does not touch its input and returns a key of its own', (t) => {
  const m = randomBytes(32);
  const em = raw(oaep('sha256', m));
  const before = Buffer.from(em);
  const key = decodeOaepSha256(em);
  t.deepEqual(em, before);
  const bytes = key.expose();
  t.is(bytes.buffer.byteLength, 32);
  key.destroy();
  t.true(bytes.every((b) => b === 0));
});
