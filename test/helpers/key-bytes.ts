import type { SecretKey } from '../../src/crypto/secret-key.js';

/**
 * The buffer that holds a live key's bytes: the one its destroy() overwrites, so a test that takes it now
 * can read it after eviction, expiry or shutdown and see zeros. Only through the public `expose()` (which
 * throws once the key is destroyed): src/ has no accessor for tests.
 */
export function liveKeyBuffer(key: SecretKey): Buffer {
  return key.expose();
}
