import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/**
 * The layers of src/, lowest first (docs/architecture.md, "Layers"). A file may import from its own folder
 * and from folders of a lower layer only: never from a folder of its own layer, never from one above.
 * `.` is the files directly in src/ (errors.ts, ids.ts, version.ts).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['.'],
  ['log', 'telemetry', 'generated', 'crypto', 'storage'],
  ['auth', 'providers', 'registry', 'rpc'],
  ['audit', 'cache'],
  ['revocation'],
  ['core', 'config'],
  ['server', 'client'],
  ['daemon'],
  ['cli'],
];

/**
 * Upward imports known and not yet fixed: "<importing file> -> <import as written>". Empty: keep it so. The test
 * fails on any other upward import, and on an entry here that no longer exists, so the list only shrinks.
 */
const ALLOWED_UPWARD: readonly string[] = [];

const SRC = new URL('../src/', import.meta.url).pathname;

interface Import {
  /** The importing file, relative to src/. */
  file: string;
  /** The import as written. */
  spec: string;
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(p));
    else if (entry.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

/** The folder of src/ a path (relative to src/) lies in: its first segment, or `.` for a file of src/ itself. */
function folderOf(path: string): string {
  const parts = path.split(sep);
  return parts.length > 1 ? parts[0]! : '.';
}

/** `from '...'` (imports and re-exports, type-only ones too), `import '...'` and `import('...')`. */
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Every relative import between two different folders of src/. */
function crossFolderImports(): Import[] {
  const out: Import[] = [];
  for (const path of sourceFiles(SRC)) {
    const file = relative(SRC, path);
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) continue; // a package
      const target = normalize(join(dirname(file), spec));
      if (target.startsWith('..')) throw new Error(`${file} imports ${spec}, outside src/`);
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) out.push({ file: file.split(sep).join('/'), spec, from, to });
    }
  }
  return out;
}

const layerOf = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));
const key = (i: Import) => `${i.file} -> ${i.spec}`;
const describe = (i: Import) =>
  `${key(i)}   (${i.from}, layer ${layerOf.get(i.from)} -> ${i.to}, layer ${layerOf.get(i.to)})`;

test('every folder of src/ has a layer', (t) => {
  const folders = new Set(sourceFiles(SRC).map((p) => folderOf(relative(SRC, p))));
  const missing = [...folders].filter((f) => !layerOf.has(f));
  t.deepEqual(
    missing,
    [],
    `give these folders a layer in test/layers.test.ts and docs/architecture.md: ${missing.join(', ')}`,
  );
  const gone = [...layerOf.keys()].filter((f) => !folders.has(f));
  t.deepEqual(gone, [], `these layered folders no longer exist: ${gone.join(', ')}`);
});

/** The imports that go to a folder of the same layer or of a higher one. */
function upward(imports: readonly Import[]): Import[] {
  return imports.filter((i) => layerOf.get(i.to)! >= layerOf.get(i.from)!);
}

/** Every cycle between folders, each as the chain of imports that closes it. */
function cycles(imports: readonly Import[]): string[] {
  const edges = new Map<string, Import[]>();
  for (const i of imports) edges.set(i.from, [...(edges.get(i.from) ?? []), i]);
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: Import[] = [];
  const visit = (folder: string) => {
    state.set(folder, 'open');
    const seen = new Set<string>();
    for (const i of edges.get(folder) ?? []) {
      if (seen.has(i.to)) continue; // one import per pair of folders is enough to name a cycle
      seen.add(i.to);
      path.push(i);
      if (state.get(i.to) === 'open')
        found.push(
          path
            .slice(path.findIndex((p) => p.from === i.to))
            .map(key)
            .join('  =>  '),
        );
      else if (!state.has(i.to)) visit(i.to);
      path.pop();
    }
    state.set(folder, 'done');
  };
  for (const folder of [...edges.keys()].sort()) if (!state.has(folder)) visit(folder);
  return found;
}

test('imports point down: no file imports from a folder of its own layer or of a higher one', (t) => {
  const imports = crossFolderImports();
  t.true(imports.length > 100, 'the parser found the imports'); // a parser that found nothing would pass anything
  const up = upward(imports);
  const offending = up.filter((i) => !ALLOWED_UPWARD.includes(key(i)));
  t.deepEqual(
    offending.map(describe),
    [],
    'import from a lower layer instead (move the shared piece down, or invert the dependency)',
  );
  const stale = ALLOWED_UPWARD.filter((a) => !up.some((i) => key(i) === a));
  t.deepEqual(stale, [], 'these allowed upward imports are gone: remove them from ALLOWED_UPWARD');
});

test('no cycle between folders', (t) => {
  t.deepEqual(cycles(crossFolderImports().filter((i) => !ALLOWED_UPWARD.includes(key(i)))), []);
});

test('the checks can fail: a made-up upward import, a same-layer import and a cycle are all found', (t) => {
  const made: Import[] = [
    { file: 'core/x.ts', spec: '../server/y.js', from: 'core', to: 'server' },
    { file: 'server/y.ts', spec: '../core/x.js', from: 'server', to: 'core' },
    { file: 'server/z.ts', spec: '../client/w.js', from: 'server', to: 'client' },
  ];
  t.deepEqual(upward(made).map(key), ['core/x.ts -> ../server/y.js', 'server/z.ts -> ../client/w.js']);
  t.deepEqual(cycles(made), ['core/x.ts -> ../server/y.js  =>  server/y.ts -> ../core/x.js']);
  // and the parser reads every form an import takes
  const forms =
    "import a from '../a/a.js';\nimport type { B } from '../b/b.js';\nexport { c } from '../c/c.js';\nimport '../d/d.js';\nconst e = await import('../e/e.js');";
  t.deepEqual(
    [...forms.matchAll(IMPORT)].map((m) => m[1]),
    ['../a/a.js', '../b/b.js', '../c/c.js', '../d/d.js', '../e/e.js'],
  );
});
