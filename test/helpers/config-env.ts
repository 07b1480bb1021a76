import { knownEnvVars } from '../../src/config/env-scan.js';

/**
 * Every environment variable the daemon reads: each setting's own (src/config/settings.ts, SETTINGS) and the
 * few read outside the table (src/config/env-scan.ts, OTHER_ENV_VARS: the config file, the PKCS#11 PIN, the
 * CLI's addresses). A setting added to the table is known here without an edit.
 */
export function knownEnvironmentVariables(): Set<string> {
  return new Set(knownEnvVars());
}

/**
 * Variables deploy/ and the Dockerfile set for the metrics endpoint (`UNWRAPD_METRICS_LISTEN`) that are not
 * settings of the configuration yet. test/deploy-manifests.test.ts fails as soon as one of them is, so that
 * it is taken off this list.
 */
export const AWAITED_VARIABLES: ReadonlySet<string> = new Set<string>([]);
