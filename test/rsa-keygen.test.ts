import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { generatedRsaKeys, newRsaPrivateKeyPem, setRsaKeySource } from '../src/providers/rsa-keygen.js';

// The test suites take keys from a pool (test/helpers/rsa-key-pool.ts) through setRsaKeySource. These
// tests prove the seam cannot weaken keys, and that the production source generates them.

const pem = (modulusLength: number, publicExponent = 0x10001) =>
  generateKeyPairSync('rsa', {
    modulusLength,
    publicExponent,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;

test.serial('a key source cannot make keys weaker: a key of another size or exponent is refused', async (t) => {
  const small = pem(1024);
  const oddExponent = pem(1024, 3);
  const previous = setRsaKeySource(async () => small);
  try {
    await t.throwsAsync(newRsaPrivateKeyPem(3072), { message: /not RSA-3072/ });
    setRsaKeySource(async () => oddExponent);
    await t.throwsAsync(newRsaPrivateKeyPem(3072), { message: /not RSA-3072/ });
    setRsaKeySource(async () => 'not a key');
    await t.throwsAsync(newRsaPrivateKeyPem(3072));
  } finally {
    setRsaKeySource(previous);
  }
});

test.serial('the production source generates a fresh RSA-3072 key each time', async (t) => {
  const previous = setRsaKeySource(generatedRsaKeys);
  try {
    const [a, b] = await Promise.all([newRsaPrivateKeyPem(3072), newRsaPrivateKeyPem(3072)]);
    t.not(a, b);
  } finally {
    setRsaKeySource(previous);
  }
});
