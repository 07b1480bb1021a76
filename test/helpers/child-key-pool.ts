/**
 * Preloaded into the `unwrapd` commands a test process starts (`node --import=<this file, compiled>`, through
 * NODE_OPTIONS: `keyPoolNodeOptions`), so that their keystores, which bin/unwrapd.js runs from dist/ when that is
 * a current build, take new RSA keys from the test pool as the test process's own keystores do
 * (rsa-key-pool.ts): the demo's three keys of every `unwrapd serve`, `keys create` and `keys rotate` cost about
 * 1.3 s of CPU each when generated. Keys are claimed in the test process's claims directory, so a child never
 * takes a key the test process or another child took.
 *
 * Only dist/'s key source can be set from here: when bin/unwrapd.js runs the sources instead (dist/ missing or
 * stale), this does nothing and keys are generated, as without the pool.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as RsaKeygen from '../../src/providers/rsa-keygen.js';
import { childNodeArgs } from './compiled-child.js';
import { KEY_CLAIMS_ENV, poolDraw, rsaKeyPool, rsaKeyPoolInUse } from './rsa-key-pool.js';

const DIST_KEYGEN = fileURLToPath(new URL('../../dist/providers/rsa-keygen.js', import.meta.url));
const SELF = new URL(import.meta.url);

/** Runs only as a preload in a child (not when a test or another helper imports this file to call the function). */
if (process.env.UNWRAPD_TEST_CHILD_KEY_POOL === '1' && existsSync(DIST_KEYGEN)) {
  // A computed specifier: the bundle compiled-child.ts makes of this file leaves it to Node, which loads the
  // very module dist/cli/main.js imports.
  const keygen = (await import(pathToFileURL(DIST_KEYGEN).href)) as typeof RsaKeygen;
  keygen.setRsaKeySource(rsaKeyPool(keygen.generatedRsaKeys, poolDraw()));
}

/**
 * The environment additions that give an `unwrapd` child of this test process the key pool: NODE_OPTIONS with
 * this file preloaded (after whatever `env` already has there), the claims directory, and the switch the preload
 * checks. Empty when this process does not use the pool (`UNWRAPD_TEST_KEY_POOL=off`).
 */
export async function keyPoolChildEnv(env: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  if (!rsaKeyPoolInUse()) return {};
  const [preload] = await childNodeArgs(SELF);
  if (preload === undefined || preload === '--import=tsx') return {}; // no esbuild: nothing to preload cheaply
  return {
    NODE_OPTIONS: [env.NODE_OPTIONS, `--import=${preload}`].filter(Boolean).join(' '),
    [KEY_CLAIMS_ENV]: process.env[KEY_CLAIMS_ENV],
    UNWRAPD_TEST_CHILD_KEY_POOL: '1',
  };
}
