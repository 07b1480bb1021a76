import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generatedRsaKeys, setRsaKeySource, type RsaKeySource } from '../../src/providers/rsa-keygen.js';

/**
 * RSA keys generated ahead of time, for test processes: every policy gets an availability key of its own
 * and every test daemon's demo creates three, and an RSA-3072 generation costs about a second of CPU (more
 * on a busy machine). The keys are real (3072 and 4096 bits, the sizes the keystore allows; the keystore
 * checks every key it is given), so the code under test runs as in production, only without the wait.
 *
 * Each key is handed out at most once per test process and the children it starts (keys must stay distinct: a
 * test that destroys one key must not find its material under another name); when a size runs out, keys are
 * generated as usual. A test process claims each key it draws with a file of its own, created exclusively, in a
 * directory it names to its children in UNWRAPD_TEST_KEY_CLAIMS, so its `unwrapd` children (child-key-pool.ts)
 * draw from the same pool without ever taking a key it or a sibling took. A process without that directory
 * starts at a random place in the list. The keys are test fixtures, never used outside tests.
 *
 * The 2048-bit keys are for the fake Key Vault's keys (fake-key-vault.ts, `fixtureRsaKey`): an Azure test file
 * creates dozens, at about 0.4 s of CPU each when generated.
 *
 * Regenerate test/fixtures/rsa-key-pool.json with `node --import=tsx test/helpers/rsa-key-pool.ts --write`.
 */
const FIXTURE = new URL('../fixtures/rsa-key-pool.json', import.meta.url);
const POOL_SIZES: Record<number, number> = { 2048: 64, 3072: 64, 4096: 4 };

/** Takes the next unused key of `bits` bits from the fixture, or undefined when that size has run out. */
export type PoolDraw = (bits: number) => string | undefined;

/** The environment variable naming the directory of claimed keys that a test process shares with its children. */
export const KEY_CLAIMS_ENV = 'UNWRAPD_TEST_KEY_CLAIMS';

/**
 * Draws keys from the fixture: claimed in `claims` (a file `<bits>-<index>` created exclusively per key, so no
 * two processes sharing the directory take the same key) when given, else from a random start, each key once.
 */
export function poolDraw(claims: string | undefined = process.env[KEY_CLAIMS_ENV]): PoolDraw {
  const pool = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, string[]>;
  const remaining = new Map<number, Array<[number, string]>>();
  for (const [bits, keys] of Object.entries(pool)) {
    const start = Math.floor(Math.random() * keys.length);
    const indexed = keys.map((key, i) => [i, key] as [number, string]);
    remaining.set(Number(bits), [...indexed.slice(start), ...indexed.slice(0, start)]);
  }
  const claim = (bits: number, index: number): boolean => {
    if (claims === undefined) return true;
    try {
      closeSync(openSync(join(claims, `${bits}-${index}`), 'wx'));
      return true;
    } catch {
      return false; // taken (EEXIST), or the directory is gone or not ours: the key is generated instead
    }
  };
  return (bits) => {
    const keys = remaining.get(bits);
    for (let next = keys?.shift(); next; next = keys?.shift()) if (claim(bits, next[0])) return next[1];
    return undefined;
  };
}

export function rsaKeyPool(fallback: RsaKeySource = generatedRsaKeys, draw: PoolDraw = poolDraw()): RsaKeySource {
  return async (bits) => draw(bits) ?? fallback(bits);
}

let installed: PoolDraw | undefined;

/** Whether this process takes its keys from the pool (its child daemons then do too). */
export function rsaKeyPoolInUse(): boolean {
  return installed !== undefined;
}

/** Makes this process's keystores take their new keys from the pool (idempotent). */
export function useRsaKeyPool(): void {
  if (installed) return;
  if (process.env[KEY_CLAIMS_ENV] === undefined) {
    const claims = mkdtempSync(join(tmpdir(), 'uwd-key-claims-'));
    process.env[KEY_CLAIMS_ENV] = claims;
    process.once('exit', () => rmSync(claims, { recursive: true, force: true }));
  }
  installed = poolDraw();
  setRsaKeySource(rsaKeyPool(generatedRsaKeys, installed));
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * A new RSA private key of `bits` bits for a test fixture (the fake Key Vault's keys): from the same pool as
 * the keystores' keys when this process uses it (so never a key the process was already given), else generated.
 */
export async function fixtureRsaKey(bits: number): Promise<KeyObject> {
  const pem = installed?.(bits);
  if (pem !== undefined) return createPrivateKey(pem);
  return (await generateKeyPairAsync('rsa', { modulusLength: bits })).privateKey;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  const pool: Record<string, string[]> = {};
  for (const [bits, n] of Object.entries(POOL_SIZES)) {
    pool[bits] = [];
    for (let i = 0; i < n; i++) {
      const { privateKey } = await generateKeyPairAsync('rsa', {
        modulusLength: Number(bits),
        publicExponent: 0x10001,
      });
      pool[bits].push(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    }
  }
  writeFileSync(FIXTURE, `${JSON.stringify(pool, null, 1)}\n`);
}
