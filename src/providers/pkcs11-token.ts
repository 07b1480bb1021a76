import { constants, createPublicKey, publicEncrypt, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Handle, Mechanism, Pkcs11Library, Pkcs11Module, RsaOaepParams, Template } from './pkcs11-api.js';
import { ckr } from './pkcs11-errors.js';
import { formatPkcs11Uri, type Pkcs11KeyRef } from './pkcs11-uri.js';
import { providerError } from './provider-error.js';

/**
 * Operations on a token's session for the PKCS#11 provider (pkcs11-provider.ts, which owns the module and
 * the sessions and serializes calls): finding a key, RSA-OAEP with the token's private key, the public-key
 * operation done here, and finding which OAEP hash the token accepts.
 */
export type { Handle, Pkcs11Module } from './pkcs11-api.js';
export interface TokenModule {
  pk: Pkcs11Module;
  lib: Pkcs11Library;
}

export interface KeyInfo {
  ref: Pkcs11KeyRef & { token: string };
  handle: Handle;
  decrypt: boolean;
  publicKey: KeyObject;
  modulusBytes: number;
}

export const PKCS11_ALGORITHMS = ['RSA-OAEP-256', 'RSA-OAEP'] as const;
export type OaepAlgorithm = (typeof PKCS11_ALGORITHMS)[number];

/** Finds the one private RSA key the URI names (synchronous: call inside onToken). */
export function findKey(keyUri: string, ref: Pkcs11KeyRef & { token: string }, s: Handle, m: TokenModule): KeyInfo {
  const { pk, lib } = m;
  const template: Template = [
    { type: pk.CKA_CLASS, value: pk.CKO_PRIVATE_KEY },
    { type: pk.CKA_KEY_TYPE, value: pk.CKK_RSA },
    { type: pk.CKA_LABEL, value: ref.object },
  ];
  if (ref.id) template.push({ type: pk.CKA_ID, value: ref.id });
  lib.C_FindObjectsInit(s, template);
  let found: Handle[];
  try {
    found = lib.C_FindObjects(s, 2);
  } finally {
    lib.C_FindObjectsFinal(s);
  }
  if (found.length === 0)
    throw providerError(
      'key_not_found',
      keyUri,
      `${keyUri}: no private RSA key with that label${ref.id ? ' and id' : ''} on token ${JSON.stringify(ref.token)}`,
    );
  if (found.length > 1)
    throw providerError('key_not_found', keyUri, `${keyUri}: several keys have that label; name one with id=`);
  const handle = found[0]!;
  const attrs = lib.C_GetAttributeValue(s, handle, [
    { type: pk.CKA_ID },
    { type: pk.CKA_DECRYPT },
    { type: pk.CKA_MODULUS },
    { type: pk.CKA_PUBLIC_EXPONENT },
  ]);
  const [id, decrypt, modulus, exponent] = attrs.map((a) => a.value);
  if (!Buffer.isBuffer(modulus) || !Buffer.isBuffer(exponent))
    throw providerError('unknown', keyUri, `${keyUri}: the key does not expose its public modulus and exponent`);
  const publicKey = createPublicKey({
    key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') },
    format: 'jwk',
  });
  const pinned: Pkcs11KeyRef & { token: string } = { token: ref.token, object: ref.object };
  if (Buffer.isBuffer(id) && id.length > 0) pinned.id = Buffer.from(id);
  return { ref: pinned, handle, decrypt: isTrue(decrypt), publicKey, modulusBytes: modulus.length };
}

function mechanism(pk: Pkcs11Module, algorithm: OaepAlgorithm): Mechanism {
  const sha256 = algorithm === 'RSA-OAEP-256';
  return {
    mechanism: pk.CKM_RSA_PKCS_OAEP,
    parameter: {
      type: pk.CK_PARAMS_RSA_OAEP,
      hashAlg: sha256 ? pk.CKM_SHA256 : pk.CKM_SHA_1,
      mgf: sha256 ? pk.CKG_MGF1_SHA256 : pk.CKG_MGF1_SHA1,
      source: 1 /* CKZ_DATA_SPECIFIED */,
    } satisfies RsaOaepParams,
  };
}

export function encrypt(key: KeyInfo, algorithm: OaepAlgorithm, plain: Uint8Array): Buffer {
  return publicEncrypt(
    {
      key: key.publicKey,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: algorithm === 'RSA-OAEP-256' ? 'sha256' : 'sha1',
    },
    plain,
  );
}

export async function decrypt(
  s: Handle,
  m: TokenModule,
  key: KeyInfo,
  algorithm: OaepAlgorithm,
  ciphertext: Buffer,
): Promise<{ out: Buffer; plain: Buffer }> {
  m.lib.C_DecryptInit(s, mechanism(m.pk, algorithm), key.handle);
  const out = Buffer.alloc(key.modulusBytes);
  const plain = await m.lib.C_DecryptAsync(s, ciphertext, out);
  return { out, plain };
}

/** The algorithm the token unwraps with for this key: SHA-256 when it accepts it, else SHA-1 (a test round trip, once). */
export async function algorithmFor(
  s: Handle,
  m: TokenModule,
  key: KeyInfo,
  algorithms: Map<string, OaepAlgorithm>,
): Promise<OaepAlgorithm> {
  const uri = formatPkcs11Uri(key.ref);
  const known = algorithms.get(uri);
  if (known) return known;
  const probe = randomBytes(32);
  for (const algorithm of PKCS11_ALGORITHMS) {
    try {
      const { out, plain } = await decrypt(s, m, key, algorithm, encrypt(key, algorithm, probe));
      const ok = plain.length === probe.length && timingSafeEqual(plain, probe);
      out.fill(0);
      if (ok) {
        algorithms.set(uri, algorithm);
        return algorithm;
      }
    } catch (err) {
      // Not offered: try the next algorithm. Anything else is the token's answer.
      const code = ckr(err);
      if (code !== 'CKR_MECHANISM_PARAM_INVALID' && code !== 'CKR_MECHANISM_INVALID' && code !== 'CKR_ARGUMENTS_BAD')
        throw err;
    }
  }
  throw providerError('unknown', uri, `${uri}: the token supports neither RSA-OAEP with SHA-256 nor with SHA-1`);
}

export async function decryptsProbe(
  s: Handle,
  m: TokenModule,
  key: KeyInfo,
  algorithm: OaepAlgorithm,
): Promise<boolean> {
  const probe = randomBytes(32);
  try {
    const { out, plain } = await decrypt(s, m, key, algorithm, encrypt(key, algorithm, probe));
    const ok = plain.length === probe.length && timingSafeEqual(plain, probe);
    out.fill(0);
    return ok;
  } catch {
    return false;
  }
}

function isTrue(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (Buffer.isBuffer(value)) return value.length > 0 && value[0] !== 0;
  return false;
}
