import { CONFIG_FLAGS } from '../../src/config/config.js';

/**
 * Every environment variable the daemon reads: one per setting (`--data-dir` is UNWRAPD_DATA_DIR, and so on
 * for each flag, `--config` included) and UNWRAPD_PKCS11_PIN, which has no flag on purpose (the PIN is never
 * a command-line argument). Built from the configuration's own list of flags, so a setting added there is
 * known here without an edit.
 */
export function knownEnvironmentVariables(): Set<string> {
  const names = CONFIG_FLAGS.map((flag) => `UNWRAPD_${flag.toUpperCase().replace(/-/g, '_')}`);
  return new Set([...names, 'UNWRAPD_PKCS11_PIN']);
}
