import { readFileSync } from 'node:fs';
import { generatedRsaKeys, setRsaKeySource, type KeyBits, type RsaKeySource } from '../../src/providers/rsa-keygen.js';

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
 * Regenerate test/fixtures/rsa-key-pool.json with `node --import=tsx test/helpers/rsa-key-pool.ts --write`.
 */
const FIXTURE = new URL('../fixtures/rsa-key-pool.json', import.meta.url);
const POOL_SIZES: Record<KeyBits, number> = { 3072: 64, 4096: 4 };

export function rsaKeyPool(fallback: RsaKeySource = generatedRsaKeys): RsaKeySource {
  const pool = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, string[]>;
  const remaining = new Map<number, string[]>();
  for (const [bits, keys] of Object.entries(pool)) {
    const start = Math.floor(Math.random() * keys.length);
    remaining.set(Number(bits), [...keys.slice(start), ...keys.slice(0, start)]);
  }
  return async (bits) => remaining.get(bits)?.shift() ?? fallback(bits);
}

let installed = false;

/** Whether this process takes its keys from the pool (its child daemons then do too). */
export function rsaKeyPoolInUse(): boolean {
  return installed;
}

/** Makes this process's keystores take their new keys from the pool (idempotent). */
export function useRsaKeyPool(): void {
  if (installed) return;
  installed = true;
  setRsaKeySource(rsaKeyPool());
}

if (process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  const pool: Record<string, string[]> = {};
  for (const [bits, n] of Object.entries(POOL_SIZES)) {
    pool[bits] = [];
    for (let i = 0; i < n; i++) pool[bits].push(await generatedRsaKeys(Number(bits) as KeyBits));
  }
  writeFileSync(FIXTURE, `${JSON.stringify(pool, null, 1)}\n`);
}
