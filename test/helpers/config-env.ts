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

/**
 * Variables deploy/ and the Dockerfile set for the metrics endpoint (`UNWRAPD_METRICS_LISTEN`) that are not
 * settings of the configuration yet. test/deploy-manifests.test.ts fails as soon as one of them is, so that
 * it is taken off this list.
 */
export const AWAITED_VARIABLES: ReadonlySet<string> = new Set(['UNWRAPD_METRICS_LISTEN']);
