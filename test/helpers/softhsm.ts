import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pkcs11Library, Pkcs11Module } from '../../src/providers/pkcs11-api.js';
import { fixtureRsaKey } from './rsa-key-pool.js';
import type { SystemDependency } from './system-dependency.js';

/**
 * SoftHSM 2 (Debian package `softhsm2`, installed by .ci/run) for PKCS#11 tests: a token in a temp dir,
 * and RSA key pairs put on it with pkcs11js.
 *
 * SoftHSM reads SOFTHSM2_CONF when the module is initialized, and a PKCS#11 module is initialized once per
 * process: so `softHsmToken` sets SOFTHSM2_CONF in this process (ava runs each test file in its own
 * process), and `importRsaKeyPair` never finalizes the module (a provider in the same process may be
 * using it; it tolerates CKR_CRYPTOKI_ALREADY_INITIALIZED).
 */
export const SOFTHSM_MODULE = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
].find((p) => existsSync(p));

export interface SoftHsmToken {
  module: string;
  label: string;
  pin: string;
  dir: string;
  cleanup(): void;
}

export function softHsmToken(label = 'unwrapd-test', pin = '246810'): SoftHsmToken {
  if (!SOFTHSM_MODULE) throw new Error('SoftHSM 2 is not installed (apt-get install softhsm2; .ci/run does it)');
  const dir = mkdtempSync(join(tmpdir(), 'uwd-hsm-'));
  mkdirSync(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '13579', '--pin', pin], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'ignore',
  });
  return { module: SOFTHSM_MODULE, label, pin, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What the helpers use beyond what the provider does (pkcs11js has it all). */
type HelperModule = Omit<Pkcs11Module, 'PKCS11'> & {
  readonly PKCS11: new () => HelperLibrary;
  readonly CKO_PUBLIC_KEY: number;
  readonly CKA_PRIVATE_EXPONENT: number;
  readonly CKA_PRIME_1: number;
  readonly CKA_PRIME_2: number;
  readonly CKA_EXPONENT_1: number;
  readonly CKA_EXPONENT_2: number;
  readonly CKA_COEFFICIENT: number;
};
type HelperLibrary = Pkcs11Library & {
  C_CreateObject(session: Buffer, template: Parameters<Pkcs11Library['C_FindObjectsInit']>[1]): Buffer;
};

interface Opened {
  pk: HelperModule;
  lib: HelperLibrary;
  session: Buffer;
}

function open(token: SoftHsmToken): Opened {
  const require = createRequire(import.meta.url);
  const pk = require('pkcs11js') as HelperModule;
  const lib = new pk.PKCS11();
  lib.load(token.module);
  try {
    lib.C_Initialize();
  } catch (err) {
    if (!String((err as Error).message).startsWith('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw err;
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token.label);
  if (!slot) throw new Error(`no token ${token.label}`);
  const session = lib.C_OpenSession(slot, pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
  try {
    lib.C_Login(session, pk.CKU_USER, token.pin);
  } catch (err) {
    if (!String((err as Error).message).startsWith('CKR_USER_ALREADY_LOGGED_IN')) throw err;
  }
  return { pk, lib, session };
}

/**
 * Puts a token-resident RSA key pair on the token (private: sensitive, not extractable, may decrypt): a key of
 * the test key pool (rsa-key-pool.ts, `fixtureRsaKey`), imported with C_CreateObject, as an HSM generation of
 * a 2048-bit key costs SoftHSM about 0.8 s of CPU. The provider finds and uses it as one generated there (it
 * reads no attribute that tells them apart). Keys the code under test creates are generated on the token.
 */
export async function importRsaKeyPair(
  token: SoftHsmToken,
  label: string,
  id: Buffer,
  opts: { bits?: number; decrypt?: boolean } = {},
): Promise<void> {
  const jwk = (await fixtureRsaKey(opts.bits ?? 2048)).export({ format: 'jwk' }) as Record<string, string>;
  const part = (name: string) => Buffer.from(jwk[name]!, 'base64url');
  const { pk, lib, session } = open(token);
  try {
    const common = [
      { type: pk.CKA_KEY_TYPE, value: pk.CKK_RSA },
      { type: pk.CKA_TOKEN, value: true },
      { type: pk.CKA_LABEL, value: label },
      { type: pk.CKA_ID, value: id },
      { type: pk.CKA_MODULUS, value: part('n') },
      { type: pk.CKA_PUBLIC_EXPONENT, value: part('e') },
    ];
    lib.C_CreateObject(session, [
      { type: pk.CKA_CLASS, value: pk.CKO_PUBLIC_KEY },
      ...common,
      { type: pk.CKA_ENCRYPT, value: true },
      { type: pk.CKA_WRAP, value: true },
    ]);
    lib.C_CreateObject(session, [
      { type: pk.CKA_CLASS, value: pk.CKO_PRIVATE_KEY },
      ...common,
      { type: pk.CKA_PRIVATE_EXPONENT, value: part('d') },
      { type: pk.CKA_PRIME_1, value: part('p') },
      { type: pk.CKA_PRIME_2, value: part('q') },
      { type: pk.CKA_EXPONENT_1, value: part('dp') },
      { type: pk.CKA_EXPONENT_2, value: part('dq') },
      { type: pk.CKA_COEFFICIENT, value: part('qi') },
      { type: pk.CKA_PRIVATE, value: true },
      { type: pk.CKA_SENSITIVE, value: true },
      { type: pk.CKA_EXTRACTABLE, value: false },
      { type: pk.CKA_DECRYPT, value: opts.decrypt ?? true },
      { type: pk.CKA_UNWRAP, value: true },
    ]);
  } finally {
    lib.C_CloseSession(session);
  }
}

/** Destroys every object (both halves of the pair) with this label. */
export function destroyKey(token: SoftHsmToken, label: string): number {
  const { pk, lib, session } = open(token);
  try {
    lib.C_FindObjectsInit(session, [{ type: pk.CKA_LABEL, value: label }]);
    const found = lib.C_FindObjects(session, 10);
    lib.C_FindObjectsFinal(session);
    for (const h of found) lib.C_DestroyObject(session, h);
    return found.length;
  } finally {
    lib.C_CloseSession(session);
  }
}

/** SoftHSM 2 as a system dependency of a test file (test/helpers/system-dependency.ts). */
export function softHsmDependency(): SystemDependency {
  return { name: 'SoftHSM 2', available: softHsmAvailable(), installHint: 'apt-get install softhsm2' };
}

/** The SoftHSM module and softhsm2-util (on PATH; Debian puts it in /usr/bin) are both installed. */
export function softHsmAvailable(): boolean {
  if (!SOFTHSM_MODULE) return false;
  return (process.env.PATH ?? '/usr/bin')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, 'softhsm2-util')));
}
