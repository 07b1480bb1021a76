import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { generatedRsaKeys, setRsaKeySource, type RsaKeySource } from '../../src/providers/rsa-keygen.js';

/**
 * RSA keys generated ahead of time, for test processes: every policy gets an availability key of its own
 * and every test daemon's demo creates three, and an RSA-3072 generation costs about a second of CPU (more
 * on a busy machine). The keys are real (3072 and 4096 bits, the sizes the keystore allows; the keystore
 * checks every key it is given), so the code under test runs as in production, only without the wait.
 *
 * Each key is handed out at most once per process (keys must stay distinct: a test that destroys one
 * key must not find its material under another name); when a size runs out, keys are generated as usual.
 * Each process starts at a random place in the list, so processes sharing a keystore (the fleet tests)
 * seldom draw the same key. The keys are test fixtures, never used outside tests.
 *
 * The 2048-bit keys are for the fake Key Vault's keys (fake-key-vault.ts, `fixtureRsaKey`): an Azure test file
 * creates dozens, at about 0.4 s of CPU each when generated.
 *
 * Regenerate test/fixtures/rsa-key-pool.json with `node --import=tsx test/helpers/rsa-key-pool.ts --write`.
 */
const FIXTURE = new URL('../fixtures/rsa-key-pool.json', import.meta.url);
const POOL_SIZES: Record<number, number> = { 2048: 64, 3072: 64, 4096: 4 };

/** Takes the next unused key of `bits` bits from the fixture, or undefined when that size has run out. */
type PoolDraw = (bits: number) => string | undefined;

function poolDraw(): PoolDraw {
  const pool = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, string[]>;
  const remaining = new Map<number, string[]>();
  for (const [bits, keys] of Object.entries(pool)) {
    const start = Math.floor(Math.random() * keys.length);
    remaining.set(Number(bits), [...keys.slice(start), ...keys.slice(0, start)]);
  }
  return (bits) => remaining.get(bits)?.shift();
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

if (process.argv.includes('--write')) {
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
