/**
 * Loaded by ava before every test file (`require` in package.json's `ava` and in ava.compiled.config.js, which
 * loads its compiled copy) and by the helpers that start daemons in child processes: new RSA keys come from a
 * pool generated ahead of time (test/helpers/rsa-key-pool.ts).
 * `UNWRAPD_TEST_KEY_POOL=off npm test` generates every key instead, as production does.
 */
import { useRsaKeyPool } from './rsa-key-pool.js';

if (process.env.UNWRAPD_TEST_KEY_POOL !== 'off') useRsaKeyPool();
