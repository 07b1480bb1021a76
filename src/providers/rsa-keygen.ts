import { createPrivateKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

/** RSA sizes the local keystore generates: never below 3072 bits. */
export type KeyBits = 3072 | 4096;

/** Where new RSA private keys (PKCS#8 PEM) come from. */
export type RsaKeySource = (bits: KeyBits) => Promise<string>;

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * RSA generation runs on libuv's thread pool (4 threads by default), which file reads share: key
 * generations are run one at a time per process, so that a burst of CreatePolicy calls (each creating an
 * availability key) never holds every thread while keystore and registry reads wait behind it.
 */
let keygenQueue: Promise<unknown> = Promise.resolve();

/** The production source: a fresh key from the operating system's CSPRNG, one generation at a time. */
export const generatedRsaKeys: RsaKeySource = (bits) => {
  const next = keygenQueue.then(() => generateNow(bits));
  keygenQueue = next.catch(() => undefined);
  return next;
};

async function generateNow(bits: KeyBits): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

let source: RsaKeySource = generatedRsaKeys;

/**
 * Replaces this process's key source and returns the previous one. Only test suites call it, to hand out
 * keys generated ahead of time (a 3072-bit generation costs about a second of CPU, and every policy has a
 * key of its own). Whatever the source, `newRsaPrivateKeyPem` refuses a key that is not RSA of the size
 * asked for, so a source can make key creation faster, never weaker.
 */
export function setRsaKeySource(next: RsaKeySource): RsaKeySource {
  const previous = source;
  source = next;
  return previous;
}

/** A new RSA private key of `bits` bits, as PKCS#8 PEM. */
export async function newRsaPrivateKeyPem(bits: KeyBits): Promise<string> {
  const pem = await source(bits);
  const key = createPrivateKey(pem);
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'rsa' || details?.modulusLength !== bits || details.publicExponent !== 0x10001n) {
    throw new Error(`the RSA key source gave a key that is not RSA-${String(bits)} with exponent 65537`);
  }
  return pem;
}
