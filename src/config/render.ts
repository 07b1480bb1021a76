import { describeUnknownEnvVar, type UnknownEnvVar } from './env-scan.js';
import type { ResolvedConfig, SettingSource } from './resolve.js';
import { SETTING_GROUPS } from './setting.js';
import { SETTINGS, type ConfigKey, type Setting } from './settings.js';

/** Markdown as plain text: links to their text, no backticks or emphasis. */
export function plainText(markdown: string): string {
  return markdown
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .replace(/\*\*/g, '');
}

/** The settings part of `unwrapd serve --help`, grouped as in docs/configuration.md. */
export function renderSettingsHelp(): string {
  const lines: string[] = [];
  for (const [group, title] of Object.entries(SETTING_GROUPS)) {
    lines.push('', `${title}:`);
    for (const s of SETTINGS.filter((x) => x.group === group)) {
      const names = [s.flag ? `--${s.flag} ${valueHint(s)}` : `(config file "${s.fileKey}")`, s.env ?? ''];
      lines.push(`  ${names[0]!.padEnd(42)} ${names[1]}`.trimEnd());
      lines.push(`      ${plainText(s.summary)} (${s.type.name}; default ${plainText(s.defaultText)})`);
    }
  }
  return lines.join('\n');
}

function valueHint(s: Setting<ConfigKey>): string {
  if (s.type.name === 'boolean') return 'true|false';
  if (s.type.name.startsWith('integer')) return 'N';
  if (s.type.name.includes(' | ') && !s.type.name.includes(':')) return s.type.name.replace(/ \| /g, '|');
  return 'VALUE';
}

/** A setting's value as `config check` shows it: secrets masked, the authorization table as its size. */
export function displayValue(s: Setting<ConfigKey>, value: unknown, human = true): unknown {
  if (s.secret) {
    if (value === '' || value === undefined) return '';
    return s.type.mask ? s.type.mask(value as never) : '****';
  }
  if (Array.isArray(value)) return human ? `[${value.length} entr${value.length === 1 ? 'y' : 'ies'}]` : value;
  if (!human) return value;
  return s.type.format(value as never);
}

export interface EffectiveSetting {
  key: string;
  value: unknown;
  source: SettingSource;
  /** The flag, variable or file key the value came from (absent for defaults). */
  from?: string;
  env: string | null;
  secret: boolean;
}

/** The effective configuration, one entry per setting, secrets masked: what `config check --json` prints. */
export function effectiveSettings(r: ResolvedConfig): EffectiveSetting[] {
  return SETTINGS.map((s) => {
    const source = r.sources[s.key];
    const from =
      source === 'flag' ? `--${s.flag}` : source === 'env' ? s.env! : source === 'file' ? s.fileKey : undefined;
    return {
      key: s.key,
      value: displayValue(s, r.config[s.key], false),
      source,
      ...(from ? { from } : {}),
      env: s.env,
      secret: s.secret,
    };
  });
}

/** The human form of `config check`: a table of key, value, source, then the warnings. */
export function renderEffective(r: ResolvedConfig, unknownEnv: UnknownEnvVar[]): string {
  const rows = SETTINGS.map((s) => {
    const source = r.sources[s.key];
    const where =
      source === 'flag'
        ? `flag --${s.flag}`
        : source === 'env'
          ? `env ${s.env}`
          : source === 'file'
            ? `file ${r.file ?? ''}`
            : source;
    return [s.key, String(displayValue(s, r.config[s.key])), where] as const;
  });
  const keyWidth = Math.max(...rows.map((x) => x[0].length));
  const valueWidth = Math.min(60, Math.max(...rows.map((x) => x[1].length)));
  const lines = [`${'setting'.padEnd(keyWidth)}  ${'value'.padEnd(valueWidth)}  source`];
  for (const [key, value, where] of rows) lines.push(`${key.padEnd(keyWidth)}  ${value.padEnd(valueWidth)}  ${where}`);
  if (r.file) lines.push('', `config file: ${r.file}`);
  for (const u of unknownEnv) lines.push(`warning: ${describeUnknownEnvVar(u)}`);
  lines.push('', 'configuration is valid');
  return lines.join('\n');
}
