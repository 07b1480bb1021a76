import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { docRow, DOC_PATH, staleSettings, updateConfigDoc } from '../src/config/doc-table.js';
import { knownEnvVars, unknownEnvVars } from '../src/config/env-scan.js';
import { SETTINGS } from '../src/config/settings.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** docs/configuration.md shows how `config check` reports this misspelling. */
const MISSPELT_EXAMPLE = 'UNWRAPD_LISTNE';
const readDoc = () => readFile(`${ROOT}${DOC_PATH}`, 'utf8');

test('docs/configuration.md has the settings table of src/config/settings.ts (else: npm run gen:config-doc)', async (t) => {
  const doc = await readDoc();
  const stale = staleSettings(doc);
  t.deepEqual(stale, [], `stale settings in ${DOC_PATH} (run npm run gen:config-doc):\n${stale.join('\n')}`);
  t.is(updateConfigDoc(doc), doc);
});

test('a stale docs/configuration.md is reported by the setting that differs', async (t) => {
  const doc = await readDoc();
  const [a, b] = [SETTINGS[3]!, SETTINGS[SETTINGS.length - 1]!];
  const changed = doc.replace(docRow(a), docRow(a).replace(a.defaultText, '42')).replace(`${docRow(b)}\n`, '');
  const stale = staleSettings(changed);
  t.is(stale.length, 2, stale.join('\n'));
  t.true(stale[0]!.startsWith(`${a.key}: row differs`), stale[0]);
  t.true(stale[1]!.startsWith(`${b.key}: missing`), stale[1]);
  t.deepEqual(staleSettings(updateConfigDoc(changed)), []);
  t.regex(staleSettings('no markers').join('\n'), /lacks the markers/);
});

test('README.md and docs/ name only UNWRAPD_* variables unwrapd reads', async (t) => {
  const files = [
    'README.md',
    ...(await readdir(`${ROOT}docs`)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ];
  const named = new Map<string, string>();
  for (const f of files)
    for (const m of (await readFile(`${ROOT}${f}`, 'utf8')).matchAll(/\bUNWRAPD_[A-Z0-9_]*[A-Z0-9]/g))
      named.set(m[0], f);
  t.true(named.size > 20);
  t.is(named.get(MISSPELT_EXAMPLE), DOC_PATH, 'the example of a misspelling');
  named.delete(MISSPELT_EXAMPLE);
  const unknown = unknownEnvVars(Object.fromEntries([...named.keys()].map((k) => [k, '1'])));
  t.deepEqual(
    unknown.map((u) => `${u.name} (${named.get(u.name)})${u.suggestion ? `: ${u.suggestion}?` : ''}`),
    [],
  );
  t.true(knownEnvVars().includes('UNWRAPD_LISTEN'));
});
