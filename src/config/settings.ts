/**
 * THE settings table: every setting of the daemon, declared once. The `Config` type, the parser (flag >
 * environment variable > config file > default), `unwrapd serve --help`, `unwrapd config check` and the
 * tables in docs/configuration.md all come from it.
 *
 * To add a setting, add ONE `setting({...})` entry to the group file of its concern (settings-daemon.ts,
 * settings-trust.ts, settings-fleet.ts, settings-providers.ts, settings-streams.ts, settings-telemetry.ts):
 *
 *   setting({
 *     key: 'fooTimeoutMs',              // the Config field and the config-file key
 *     flag: 'foo-timeout-ms',           // --foo-timeout-ms
 *     env: 'UNWRAPD_FOO_TIMEOUT_MS',
 *     type: integer(0, 60_000),         // a type from setting-type.ts: its range is checked, errors name the setting
 *     default: 5_000,                   // or (c) => ... to derive it from other settings (then give defaultText)
 *     summary: 'one line for --help',
 *     description: 'the meaning column of docs/configuration.md (markdown)',
 *     secret: true,                     // only if its value must never be printed (config check masks it)
 *     group: 'daemon',
 *   }),
 *
 * then run `npm run gen:config-doc` to rewrite the tables in docs/configuration.md (test/config-doc.test.ts
 * fails until you do). A rule between several settings goes in validate.ts. Nothing else to edit: the field
 * appears in `Config` with the type's value type.
 */
import { DAEMON_SETTINGS } from './settings-daemon.js';
import { FLEET_SETTINGS } from './settings-fleet.js';
import { PROVIDER_SETTINGS } from './settings-providers.js';
import { STREAM_SETTINGS } from './settings-streams.js';
import { TELEMETRY_SETTINGS } from './settings-telemetry.js';
import { TRUST_SETTINGS } from './settings-trust.js';
import type { Setting } from './setting.js';

export { MAX_BLOCK_BYTES_LIMIT } from './settings-daemon.js';
export type { Setting } from './setting.js';

const TABLE = [
  ...DAEMON_SETTINGS,
  ...TRUST_SETTINGS,
  ...FLEET_SETTINGS,
  ...PROVIDER_SETTINGS,
  ...STREAM_SETTINGS,
  ...TELEMETRY_SETTINGS,
];

type AnySetting = (typeof TABLE)[number];

/** Daemon configuration: one field per setting of the table, typed by the setting's type. */
export type Config = {
  -readonly [S in AnySetting as S['key']]: S extends Setting<string, infer T> ? T : never;
};

export type ConfigKey = keyof Config;

/** Every setting, in the order docs and `config check` list them. */
export const SETTINGS: readonly Setting<ConfigKey>[] = TABLE;

/** The setting of a Config key. */
export const SETTING_BY_KEY: ReadonlyMap<ConfigKey, Setting<ConfigKey>> = new Map(SETTINGS.map((s) => [s.key, s]));

/** The flags `unwrapd serve` (and `keys check`, `config check`) take: one per setting, and `--config`. */
export const CONFIG_FLAGS: readonly string[] = [...SETTINGS.flatMap((s) => (s.flag ? [s.flag] : [])), 'config'];

/** The environment variable naming the config file (it is not a setting itself). */
export const CONFIG_FILE_ENV = 'UNWRAPD_CONFIG';
