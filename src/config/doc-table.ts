import { SETTING_GROUPS, type SettingGroup } from './setting.js';
import { SETTINGS, type ConfigKey, type Setting } from './settings.js';

/**
 * The settings tables of docs/configuration.md, made from SETTINGS. Each group's table sits between
 * `<!-- settings-table:begin <group> -->` and `<!-- settings-table:end <group> -->`; everything outside
 * the markers is prose kept as written. `npm run gen:config-doc` rewrites them; test/config-doc.test.ts
 * fails, naming the setting, when the file is stale.
 */
export const DOC_PATH = 'docs/configuration.md';

const HEADER = ['| key | flag | environment | type | default | meaning |', '| --- | --- | --- | --- | --- | --- |'];

const begin = (g: string) => `<!-- settings-table:begin ${g} -->`;
const end = (g: string) => `<!-- settings-table:end ${g} -->`;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function docRow(s: Setting<ConfigKey>): string {
  const flag = s.flag ? `\`--${s.flag}\`` : '(config file only)';
  const env = s.env ? `\`${s.env}\`` : '';
  return `| \`${s.fileKey}\` | ${flag} | ${env} | ${cell(s.type.name)} | ${cell(s.defaultText)} | ${cell(s.description)} |`;
}

export function renderDocTable(group: SettingGroup): string {
  return [...HEADER, ...SETTINGS.filter((s) => s.group === group).map(docRow)].join('\n');
}

/** The document with every group's table rewritten from SETTINGS. */
export function updateConfigDoc(doc: string): string {
  let out = doc;
  for (const group of Object.keys(SETTING_GROUPS) as SettingGroup[]) {
    const [a, b] = region(out, group);
    out = `${out.slice(0, a)}\n${renderDocTable(group)}\n${out.slice(b)}`;
  }
  return out;
}

/**
 * What differs between the document and SETTINGS, one line per setting ("maxBlockBytes: row differs ...",
 * "fooMs: missing", "barMs: not a setting"). Empty when the document is up to date.
 */
export function staleSettings(doc: string): string[] {
  const problems: string[] = [];
  for (const group of Object.keys(SETTING_GROUPS) as SettingGroup[]) {
    let a: number, b: number;
    try {
      [a, b] = region(doc, group);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    const rows = new Map<string, string>();
    for (const line of doc.slice(a, b).split('\n')) {
      const m = /^\| `([^`]+)` \|/.exec(line);
      if (m) rows.set(m[1]!, line);
    }
    const expected = SETTINGS.filter((s) => s.group === group);
    for (const s of expected) {
      const row = rows.get(s.fileKey);
      if (row === undefined) problems.push(`${s.key}: missing from the "${group}" table`);
      else if (row !== docRow(s)) problems.push(`${s.key}: row differs\n  doc:      ${row}\n  expected: ${docRow(s)}`);
      rows.delete(s.fileKey);
    }
    for (const key of rows.keys()) problems.push(`${key}: in the "${group}" table but not a setting of that group`);
    if (problems.length === 0 && doc.slice(a, b).trim() !== renderDocTable(group))
      problems.push(`the "${group}" table differs from SETTINGS (order or header)`);
  }
  return problems;
}

/** [start, end) of the text between a group's markers. */
function region(doc: string, group: string): [number, number] {
  const a = doc.indexOf(begin(group));
  const b = doc.indexOf(end(group));
  if (a < 0 || b < a) throw new Error(`${DOC_PATH} lacks the markers ${begin(group)} ... ${end(group)}`);
  return [a + begin(group).length, b];
}
