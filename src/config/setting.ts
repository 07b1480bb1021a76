import type { SettingType } from './setting-type.js';

/** The sections of docs/configuration.md (and of `unwrapd serve --help`) a setting is listed in. */
export const SETTING_GROUPS = {
  daemon: 'Daemon, limits and cache',
  trust: 'Callers, sockets and transport security',
  fleet: 'Fleet (PostgreSQL registry) and Event Grid',
  providers: 'Root-key providers',
  streams: 'Streams and connections',
  telemetry: 'Telemetry: metrics, traces and health endpoint',
} as const;
export type SettingGroup = keyof typeof SETTING_GROUPS;

/**
 * A derived default: computed from the settings already resolved (every setting with a plain default, and
 * the derived ones before it in the table). `dataDir` is always absolute here.
 */
export type DeriveDefault<T> = (resolved: Readonly<Record<string, unknown>>) => T;

/** One setting as written in the table (src/config/settings-*.ts). */
export interface SettingSpec<K extends string, T> {
  /** The `Config` field, and the key in a config file (unless `fileKey` says otherwise). */
  key: K;
  /** Command-line flag without the dashes (`max-block-bytes`); null: none (config file only). */
  flag: string | null;
  /** Environment variable (`UNWRAPD_...`); null: none (config file only). */
  env: string | null;
  /** Key in the JSON config file; default: `key`. */
  fileKey?: string;
  type: SettingType<T>;
  /** The default value, or a function deriving it from other settings. */
  default: NoInfer<T> | DeriveDefault<NoInfer<T>>;
  /** The default as docs and --help show it (markdown); required for a derived default, else made from the value. */
  defaultText?: string;
  /** One line for `unwrapd serve --help`. */
  summary: string;
  /** The full description (markdown), the "meaning" column of docs/configuration.md. */
  description: string;
  /** Its value is never printed (`config check` masks it) nor echoed in an error. */
  secret?: boolean;
  group: SettingGroup;
}

/** A setting of the table with every optional part filled in: what SETTINGS holds. */
export interface Setting<K extends string = string, T = unknown> extends SettingSpec<K, T> {
  fileKey: string;
  defaultText: string;
  secret: boolean;
  /** True when `default` is a function of other settings. */
  derived: boolean;
}

/** Declares one setting (keeps its value type for `Config`). */
export function setting<const K extends string, T>(spec: SettingSpec<K, T>): Setting<K, T> {
  const derived = typeof spec.default === 'function';
  if (derived && spec.defaultText === undefined)
    throw new Error(`setting ${spec.key}: a derived default needs defaultText`);
  return {
    ...spec,
    fileKey: spec.fileKey ?? spec.key,
    secret: spec.secret ?? false,
    derived,
    defaultText: spec.defaultText ?? plainDefaultText(spec.key, spec.type, spec.default as T),
  };
}

/** `4194304 (4 MiB)`, `1800000 (30 min)`, `` `info` ``, `(none)`. */
function plainDefaultText<T>(key: string, type: SettingType<T>, value: T): string {
  if (typeof value === 'number') {
    if (type.name === 'octal mode') return `\`${type.format(value)}\``;
    const unit = /Bytes$/.test(key) ? bytesUnit(value) : /Ms$/.test(key) ? msUnit(value) : '';
    return unit ? `${value} (${unit})` : String(value);
  }
  if (value === '') return '(none)';
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : `\`${JSON.stringify(value)}\``;
  return `\`${type.format(value)}\``;
}

function bytesUnit(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return '';
}

function msUnit(n: number): string {
  if (n >= 3_600_000 && n % 3_600_000 === 0) return `${n / 3_600_000} h`;
  if (n >= 60_000 && n % 60_000 === 0) return `${n / 60_000} min`;
  return '';
}
