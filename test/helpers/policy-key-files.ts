import { constants, createPrivateKey, privateDecrypt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { deriveWrappingKey } from '../../src/crypto/envelope.js';
import { SecretKey } from '../../src/crypto/secret-key.js';

/** The parts of the registry file (policies.json) these tests read. */
export interface RegistryFile {
  policies: Array<{
    tenant: string;
    id: string;
    activeVersion: number;
    versions: Array<{ version: number; copies: Array<{ role: string; keyUri: string; ciphertext: string }> }>;
  }>;
}

/** The parts of the local keystore file (keystore.json) these tests read. */
export interface KeystoreFile {
  keys: Record<string, { versions: Array<{ version: number; privateKeyPem?: string }> }>;
}

export interface VersionKeys {
  version: number;
  /** The intermediate key. */
  ik: Buffer;
  /** The KEK derived from it. */
  kek: Buffer;
}

/**
 * Every version of a policy's intermediate key (unwrapped from its customer-a copy with the local keystore's
 * private key) and its KEK, found the way an attacker holding the two files would; and the active version.
 */
export async function policyKeysFromFiles(
  files: { registryPath: string; keystorePath: string },
  tenant: string,
  policyId: string,
): Promise<{ activeVersion: number; versions: VersionKeys[] }> {
  const registry = JSON.parse(await readFile(files.registryPath, 'utf8')) as RegistryFile;
  const keystore = JSON.parse(await readFile(files.keystorePath, 'utf8')) as KeystoreFile;
  const policy = registry.policies.find((p) => p.tenant === tenant && p.id === policyId)!;
  const versions = policy.versions.map((version) => {
    const copy = version.copies.find((c) => c.role === 'customer-a')!;
    const [, name, v] = /^local:([^/]+)\/(\d+)$/.exec(copy.keyUri)!;
    const pem = keystore.keys[name!]!.versions.find((x) => x.version === Number(v))!.privateKeyPem!;
    const ik = privateDecrypt(
      { key: createPrivateKey(pem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(copy.ciphertext, 'base64'),
    );
    const kek = Buffer.from(
      deriveWrappingKey(SecretKey.copyFrom(ik), { tenant, policyId, keyVersion: version.version }).expose(),
    );
    return { version: version.version, ik, kek };
  });
  return { activeVersion: policy.activeVersion, versions };
}
