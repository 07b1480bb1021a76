/**
 * Rewrites the settings tables of docs/configuration.md from the settings table (src/config/settings.ts).
 * `npm run gen:config-doc`; `--check` only reports what is stale (exit 1), like test/config-doc.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DOC_PATH, staleSettings, updateConfigDoc } from '../src/config/doc-table.js';

const file = fileURLToPath(new URL(`../${DOC_PATH}`, import.meta.url));
const doc = readFileSync(file, 'utf8');
if (process.argv.includes('--check')) {
  const stale = staleSettings(doc);
  for (const line of stale) process.stderr.write(`${line}\n`);
  process.exitCode = stale.length ? 1 : 0;
} else {
  const updated = updateConfigDoc(doc);
  if (updated !== doc) writeFileSync(file, updated);
  process.stdout.write(`${DOC_PATH}: ${updated === doc ? 'up to date' : 'tables rewritten'}\n`);
}
