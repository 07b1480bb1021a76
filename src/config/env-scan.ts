import { closestName } from './closest-name.js';
import { CONFIG_FILE_ENV, SETTINGS } from './settings.js';

/**
 * `UNWRAPD_*` environment variables read outside the settings table. A variable read anywhere in the
 * daemon or the CLI is either a setting's `env` or listed here, or it is reported as unknown.
 */
export const OTHER_ENV_VARS: Readonly<Record<string, string>> = {
  [CONFIG_FILE_ENV]: 'the config file (JSON), like --config',
  UNWRAPD_PKCS11_PIN: 'the PKCS#11 user PIN when pkcs11PinFile is not set (deliberately no flag or file key)',
  UNWRAPD_ADDRESS: 'CLI client commands: the data listener to call',
  UNWRAPD_ADMIN_ADDRESS: 'CLI operator commands: the admin listener to call',
};

/** Prefixes of variables the test suite, fuzzing and benchmarks read; never reported. */
const DEVELOPMENT_PREFIXES = ['UNWRAPD_TEST_', 'UNWRAPD_FUZZ_', 'UNWRAPD_BENCH_'];

export interface UnknownEnvVar {
  name: string;
  /** The known variable it is probably a misspelling of. */
  suggestion?: string;
}

/** Every environment variable name unwrapd knows. */
export function knownEnvVars(): string[] {
  return [...SETTINGS.flatMap((s) => (s.env ? [s.env] : [])), ...Object.keys(OTHER_ENV_VARS)];
}

/** `UNWRAPD_*` variables set in `env` that unwrapd does not read (a misspelt one is silently ignored otherwise). */
export function unknownEnvVars(env: NodeJS.ProcessEnv): UnknownEnvVar[] {
  const known = knownEnvVars();
  const out: UnknownEnvVar[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.toUpperCase().startsWith('UNWRAPD_') || known.includes(name)) continue;
    if (DEVELOPMENT_PREFIXES.some((p) => name.startsWith(p))) continue;
    const suggestion = closestName(name, known);
    out.push(suggestion ? { name, suggestion } : { name });
  }
  return out;
}

/** "UNWRAPD_LISTNE is not a setting (did you mean UNWRAPD_LISTEN?)" */
export function describeUnknownEnvVar(u: UnknownEnvVar): string {
  return `${u.name} is not an unwrapd setting${u.suggestion ? ` (did you mean ${u.suggestion}?)` : ''}`;
}
