/**
 * The part of the pkcs11js addon's API the PKCS#11 provider uses, declared here so that the code type-checks
 * and builds whether or not the addon (an optional dependency, a native build) is installed: nothing in the
 * program imports pkcs11js's own declarations. Signatures as pkcs11js 2.x declares them; the names are listed
 * as values too, so that a test compares them with the installed addon.
 */

/** A slot, session or object handle. */
export type Handle = Buffer;

export interface Attribute {
  type: number;
  value?: number | boolean | string | Buffer | Date;
}
export type Template = Attribute[];

export interface AttributeResult {
  type: number;
  value: Buffer;
}

export interface RsaOaepParams {
  type: number;
  hashAlg: number;
  mgf: number;
  source: number;
  sourceData?: Buffer;
}

export interface Mechanism {
  mechanism: number;
  parameter?: Buffer | number | RsaOaepParams;
}

export interface TokenInfo {
  label: string;
}

export interface KeyPair {
  privateKey: Handle;
  publicKey: Handle;
}

/** An instance of the addon's PKCS11 class: one loaded PKCS#11 module. */
export interface Pkcs11Library {
  load(path: string): void;
  C_Initialize(): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): TokenInfo;
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Template): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Template): AttributeResult[];
  C_DecryptInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_DecryptAsync(session: Handle, inData: Buffer, outData: Buffer): Promise<Buffer>;
  C_GenerateKeyPair(session: Handle, mechanism: Mechanism, publicTmpl: Template, privateTmpl: Template): KeyPair;
  C_DestroyObject(session: Handle, object: Handle): void;
}

/** The methods of `Pkcs11Library`, by name. */
export const PKCS11_METHODS = [
  'load',
  'C_Initialize',
  'C_Finalize',
  'C_GetSlotList',
  'C_GetTokenInfo',
  'C_OpenSession',
  'C_CloseSession',
  'C_Login',
  'C_FindObjectsInit',
  'C_FindObjects',
  'C_FindObjectsFinal',
  'C_GetAttributeValue',
  'C_DecryptInit',
  'C_DecryptAsync',
  'C_GenerateKeyPair',
  'C_DestroyObject',
] as const satisfies readonly (keyof Pkcs11Library)[];

/** The PKCS#11 constants the provider (and its tests) use, all numbers. */
export const PKCS11_CONSTANTS = [
  'CKA_CLASS',
  'CKA_DECRYPT',
  'CKA_ENCRYPT',
  'CKA_EXTRACTABLE',
  'CKA_ID',
  'CKA_KEY_TYPE',
  'CKA_LABEL',
  'CKA_MODULUS',
  'CKA_MODULUS_BITS',
  'CKA_PRIVATE',
  'CKA_PUBLIC_EXPONENT',
  'CKA_SENSITIVE',
  'CKA_TOKEN',
  'CKA_UNWRAP',
  'CKA_WRAP',
  'CKF_RW_SESSION',
  'CKF_SERIAL_SESSION',
  'CKG_MGF1_SHA1',
  'CKG_MGF1_SHA256',
  'CKK_RSA',
  'CKM_RSA_PKCS_KEY_PAIR_GEN',
  'CKM_RSA_PKCS_OAEP',
  'CKM_SHA256',
  'CKM_SHA_1',
  'CKO_PRIVATE_KEY',
  'CKU_USER',
  'CK_PARAMS_RSA_OAEP',
] as const;

/** The addon module: its PKCS11 class and constants. */
export type Pkcs11Module = { readonly PKCS11: new () => Pkcs11Library } & {
  readonly [K in (typeof PKCS11_CONSTANTS)[number]]: number;
};
