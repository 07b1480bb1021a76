// Generates TypeScript types for proto/ into src/generated/ (never edit those files by hand).
// Run `npm run gen:proto` after changing proto/; test/proto-generated.test.ts fails when they are stale.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2] ?? 'src/generated';
rmSync(out, { recursive: true, force: true });
execFileSync(
  'node_modules/.bin/proto-loader-gen-types',
  [
    '--longs=String',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--grpcLib=@grpc/grpc-js',
    '--includeDirs=proto',
    `--outDir=${out}`,
    'unwrapd/v1/crypto.proto',
    'unwrapd/v1/admin.proto',
  ],
  { stdio: 'inherit' },
);

// NodeNext module resolution wants explicit extensions on relative imports.
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) {
      const src = readFileSync(p, 'utf8').replace(/from '(\.{1,2}\/[^']+)'/g, "from '$1.js'");
      writeFileSync(p, src);
    }
  }
}
walk(out);
