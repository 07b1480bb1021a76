import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out.sort();
}

test('src/generated matches proto/ (run `npm run gen:proto` after changing a .proto file)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-gen-'));
  try {
    execFileSync('node', ['scripts/gen-proto.mjs', dir], { cwd: ROOT });
    const fresh = await files(dir);
    const committed = await files(join(ROOT, 'src/generated'));
    t.deepEqual(
      committed.map((f) => relative(join(ROOT, 'src/generated'), f)),
      fresh.map((f) => relative(dir, f)),
    );
    for (const f of fresh) {
      const rel = relative(dir, f);
      t.is(await readFile(join(ROOT, 'src/generated', rel), 'utf8'), await readFile(f, 'utf8'), rel);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
