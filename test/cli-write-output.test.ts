import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeOutput } from '../src/cli/commands/crypto-options.js';

// The unary commands' output file (src/cli/commands/crypto-options.ts): written under a temporary name beside
// it and renamed, so `--in X --out X` keeps X whole when the write fails.

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'uwd-out-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('an output file is replaced whole (mode 0600), with nothing left beside it', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'envelope.uwe');
  writeFileSync(out, 'the old, longer content of the file');
  await writeOutput(out, Buffer.from('new'));
  t.is(readFileSync(out, 'utf8'), 'new');
  t.is(statSync(out).mode & 0o777, 0o600);
  t.deepEqual(readdirSync(dir), ['envelope.uwe']);
});

test('a write that fails leaves the existing file as it was', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'envelope.uwe');
  writeFileSync(out, 'the only copy');
  // The temporary name taken by a folder: the write fails whoever runs it (root too).
  mkdirSync(join(dir, `.envelope.uwe.partial-${process.pid}`));
  await t.throwsAsync(writeOutput(out, Buffer.from('new')));
  t.is(readFileSync(out, 'utf8'), 'the only copy');
});
