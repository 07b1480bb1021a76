/**
 * The daemon's configuration. Every setting is declared once, in the table of src/config/settings.ts; this
 * module is the entry point the rest of the code imports. Each setting resolves in this order: command-line
 * flag, environment variable, config file (JSON, `--config` or UNWRAPD_CONFIG), default.
 * docs/configuration.md lists every setting (its tables are generated from the table).
 */
export { ConfigError } from './config-error.js';
export { CONFIG_FLAGS, MAX_BLOCK_BYTES_LIMIT, SETTINGS, type Config, type ConfigKey } from './settings.js';
export { loadConfig, resolveConfig, resolveSettings, type ResolvedConfig, type SettingSource } from './resolve.js';
export { resolveGroup } from './validate.js';
