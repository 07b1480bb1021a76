import { readFileSync } from 'node:fs';
import { closestName } from './closest-name.js';
import { ConfigError } from './config-error.js';
import { InvalidValue, scalarText } from './setting-type.js';
import { CONFIG_FILE_ENV, SETTINGS, type Config, type ConfigKey, type Setting } from './settings.js';
import { loadAuthorizationFile, validateConfig } from './validate.js';

/** Where a setting's value came from. `override`: a value given in code to resolveConfig (tests, benchmarks). */
export type SettingSource = 'flag' | 'env' | 'file' | 'default' | 'override';

export interface ResolvedConfig {
  config: Config;
  /** Where each setting's value came from. */
  sources: Record<ConfigKey, SettingSource>;
  /** The config file read, if any. */
  file?: string;
}

export interface ResolveInput {
  /** Command-line flags by name without dashes (`max-block-bytes`), and `config`. */
  flags?: Record<string, string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** Typed values that beat every other source. */
  overrides?: Partial<Config>;
  /**
   * Check overrides like parsed values (type and range) and the rules between settings (validate.ts).
   * Default true. False takes overrides as given and skips the rules (tests use values no operator
   * should, such as a 50 ms refresh or both listeners on port 0); derived defaults are applied either way.
   */
  validate?: boolean;
}

/**
 * Resolves every setting: override, then flag, then environment variable (empty = unset), then the config
 * file (`--config` or UNWRAPD_CONFIG), then the default; derived defaults follow the values they derive
 * from. Then checks the rules between settings (validate.ts). Throws ConfigError naming the setting.
 */
export function resolveSettings(input: ResolveInput = {}): ResolvedConfig {
  const flags = input.flags ?? {};
  const env = input.env ?? {};
  const overrides = (input.overrides ?? {}) as Partial<Record<ConfigKey, unknown>>;
  const validate = input.validate ?? true;
  for (const key of Object.keys(overrides))
    if (!SETTINGS.some((s) => s.key === key)) throw new ConfigError(`unknown setting "${key}"`, key);
  const filePath = flags.config ?? (env[CONFIG_FILE_ENV] || undefined);
  const file = filePath ? readConfigFile(filePath) : {};

  const values: Partial<Record<ConfigKey, unknown>> = {};
  const sources = {} as Record<ConfigKey, SettingSource>;
  for (const s of SETTINGS) {
    const given = pick(s, flags, env, file, filePath);
    if (s.key in overrides && overrides[s.key] !== undefined) {
      values[s.key] = validate ? checked(s, overrides[s.key], 'a value given in code') : overrides[s.key];
      sources[s.key] = 'override';
    } else if (given) {
      values[s.key] = parseGiven(s, given);
      sources[s.key] = given.source;
    } else if (!s.derived) {
      values[s.key] = Array.isArray(s.default) ? [...(s.default as unknown[])] : s.default; // never shared
      sources[s.key] = 'default';
    }
  }
  // Derived defaults, in table order: each sees every explicit value and plain default, and the derived
  // values before it (dataDir comes first).
  for (const s of SETTINGS) {
    if (sources[s.key] !== undefined) continue;
    const derive = s.default as (resolved: Readonly<Record<string, unknown>>) => unknown;
    values[s.key] = validate ? checked(s, derive(values), 'the default') : derive(values);
    sources[s.key] = 'default';
  }
  const config = values as Config;
  const authorizationGiven = sources.authorization !== 'default';
  if (validate) validateConfig(config, { authorizationGiven });
  else if (config.authorizationFile && !authorizationGiven) loadAuthorizationFile(config);
  if (config.authorizationFile && sources.authorization === 'default')
    sources.authorization = sources.authorizationFile;
  return { config, sources, ...(filePath ? { file: filePath } : {}) };
}

/** The configuration `unwrapd serve` runs with: flags, then the environment, then the config file, then defaults. */
export function loadConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): Config {
  return resolveSettings({ flags, env }).config;
}

/**
 * A whole configuration from a partial one: the given values, every other setting at its default, and
 * derived defaults (listen, keystorePath, ..., from `dataDir`; streamMaxSegmentBytes from
 * streamSegmentBytes; demo from registryBackend) computed from the given values, then checked (unless
 * `validate: false`). Reads no environment unless `env` is passed. Use it instead of spreading values over
 * a loaded Config, which leaves derived defaults at the values derived from the old ones.
 */
export function resolveConfig(overrides: Partial<Config> = {}, opts: Omit<ResolveInput, 'overrides'> = {}): Config {
  return resolveSettings({ ...opts, overrides }).config;
}

interface Given {
  value: unknown;
  source: 'flag' | 'env' | 'file';
  origin: string;
}

function pick(
  s: Setting<ConfigKey>,
  flags: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv,
  file: Record<string, unknown>,
  filePath: string | undefined,
): Given | undefined {
  const fromFlag = s.flag ? flags[s.flag] : undefined;
  if (fromFlag !== undefined) return { value: fromFlag, source: 'flag', origin: `--${s.flag}` };
  const fromEnv = s.env ? env[s.env] : undefined;
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: 'env', origin: s.env! };
  if (Object.hasOwn(file, s.fileKey))
    return { value: file[s.fileKey], source: 'file', origin: `"${s.fileKey}" in config file ${filePath}` };
  return undefined;
}

function parseGiven(s: Setting<ConfigKey>, given: Given): unknown {
  try {
    if (given.source !== 'file') return s.type.parse(given.value as string);
    return s.type.fromFile ? s.type.fromFile(given.value) : s.type.parse(scalarText(given.value));
  } catch (err) {
    throw invalid(s, given.value, given.origin, err);
  }
}

/** A typed value (an override or a derived default), checked as if it had been given as text. */
function checked(s: Setting<ConfigKey>, value: unknown, origin: string): unknown {
  try {
    return s.type.parse(s.type.format(value as never));
  } catch (err) {
    throw invalid(s, value, origin, err);
  }
}

/** "maxBlockBytes must be an integer from 1024 to 67108864, got "lots" (from --max-block-bytes)". */
function invalid(s: Setting<ConfigKey>, value: unknown, origin: string, err: unknown): Error {
  if (!(err instanceof InvalidValue)) return err as Error;
  const from = ` (from ${origin})`;
  if (err.detail) return new ConfigError(`${s.key}: ${err.detail}${from}`, s.key);
  const got = s.secret ? '' : `, got ${shown(value)}`;
  return new ConfigError(`${s.key} must be ${err.expected}${got}${from}`, s.key);
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`config file ${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  const known = SETTINGS.map((s) => s.fileKey);
  for (const k of Object.keys(parsed)) {
    if (known.includes(k)) continue;
    const near = closestName(k, known);
    throw new ConfigError(`config file ${path}: unknown setting "${k}"${near ? ` (did you mean "${near}"?)` : ''}`, k);
  }
  return parsed as Record<string, unknown>;
}
