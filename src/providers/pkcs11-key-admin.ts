import type { Template } from './pkcs11-api.js';
import type { Pkcs11KeyRef } from './pkcs11-uri.js';
import { providerError } from './provider-error.js';
import type { Handle, TokenModule } from './pkcs11-token.js';

/**
 * Availability keys the PKCS#11 provider (pkcs11-provider.ts) makes and destroys on a token; synchronous, to
 * be called inside its serialized session calls (onToken).
 */

/**
 * Generates an RSA-3072 key pair (C_GenerateKeyPair) with the ref's label and id: the private key sensitive
 * and not extractable, permitted to decrypt and unwrap only; the public key to encrypt and wrap.
 */
export function generateKeyPair(s: Handle, { pk, lib }: TokenModule, ref: Pkcs11KeyRef & { id: Buffer }): void {
  const common = [
    { type: pk.CKA_TOKEN, value: true },
    { type: pk.CKA_LABEL, value: ref.object },
    { type: pk.CKA_ID, value: ref.id },
  ];
  lib.C_GenerateKeyPair(
    s,
    { mechanism: pk.CKM_RSA_PKCS_KEY_PAIR_GEN },
    [
      ...common,
      { type: pk.CKA_ENCRYPT, value: true },
      { type: pk.CKA_WRAP, value: true },
      { type: pk.CKA_MODULUS_BITS, value: 3072 },
      { type: pk.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    ],
    [
      ...common,
      { type: pk.CKA_PRIVATE, value: true },
      { type: pk.CKA_SENSITIVE, value: true },
      { type: pk.CKA_EXTRACTABLE, value: false },
      { type: pk.CKA_DECRYPT, value: true },
      { type: pk.CKA_UNWRAP, value: true },
    ],
  );
}

/**
 * Destroys (C_DestroyObject) every object with the key's label (and id, when the ref has one), private and
 * public, then checks that none is left. Returns how many it destroyed (0: already destroyed).
 */
export function destroyKeyObjects(keyUri: string, ref: Pkcs11KeyRef, s: Handle, { pk, lib }: TokenModule): number {
  const find = (): Handle[] => {
    const template: Template = [{ type: pk.CKA_LABEL, value: ref.object }];
    if (ref.id) template.push({ type: pk.CKA_ID, value: ref.id });
    lib.C_FindObjectsInit(s, template);
    try {
      return lib.C_FindObjects(s, 16);
    } finally {
      lib.C_FindObjectsFinal(s);
    }
  };
  const objects = find();
  for (const handle of objects) lib.C_DestroyObject(s, handle);
  if (find().length > 0)
    throw providerError(
      'unknown',
      keyUri,
      `${keyUri}: objects with the key's label are still on the token after C_DestroyObject`,
    );
  return objects.length;
}
