/**
 * Preloaded into the `unwrapd` commands a test process starts (`node --import=<this file, compiled>`, through
 * NODE_OPTIONS: `withKeyPool`), so that their keystores, which bin/unwrapd.js runs from dist/ when that is
 * a current build, take new RSA keys from the test pool as the test process's own keystores do
 * (rsa-key-pool.ts): the demo's three keys of every `unwrapd serve`, `keys create` and `keys rotate` cost about
 * 1.3 s of CPU each when generated. Keys are claimed in the test process's claims directory, so a child never
 * takes a key the test process or another child took.
 *
 * Only dist/'s key source can be set from here: when bin/unwrapd.js runs the sources instead (dist/ missing or
 * stale), this does nothing and keys are generated, as without the pool.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as RsaKeygen from '../../src/providers/rsa-keygen.js';
import { childNodeArgs } from './compiled-child.js';
import { KEY_CLAIMS_ENV, poolDraw, rsaKeyPool, rsaKeyPoolInUse, type PoolDraw } from './rsa-key-pool.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SELF = new URL(import.meta.url);

/**
 * As a preload in a child (not when a test imports this file): sets dist/'s key source when bin/unwrapd.js will
 * run dist/ (the decision it makes itself, bin/build-state.js). Anything that goes wrong leaves the child
 * generating its keys, as without the pool. The pool's file is read at the first key drawn.
 */
if (process.env.UNWRAPD_TEST_CHILD_KEY_POOL === '1') {
  try {
    // Computed specifiers: the bundle compiled-child.ts makes of this file leaves them to Node, which loads the
    // very modules bin/unwrapd.js and dist/cli/main.js import.
    const { buildState } = (await import(pathToFileURL(`${ROOT}bin/build-state.js`).href)) as {
      buildState(root: string): string;
    };
    if (buildState(ROOT) === 'fresh') {
      const keygen = (await import(pathToFileURL(`${ROOT}dist/providers/rsa-keygen.js`).href)) as typeof RsaKeygen;
      let draw: PoolDraw | undefined;
      keygen.setRsaKeySource(rsaKeyPool(keygen.generatedRsaKeys, (bits) => (draw ??= poolDraw())(bits)));
    }
  } catch {
    // No pool: keys are generated.
  }
}

/**
 * Child environment `env` with the key pool for an `unwrapd` child of this test process: NODE_OPTIONS with this
 * file preloaded (after whatever `env` already has there), the claims directory, and the switch the preload
 * checks. `env` as it is when this process does not use the pool (`UNWRAPD_TEST_KEY_POOL=off`).
 */
export async function withKeyPool(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  if (!rsaKeyPoolInUse()) return env;
  const [preload] = await childNodeArgs(SELF).catch(() => []); // esbuild failed: no pool, keys generated
  if (preload === undefined || preload === '--import=tsx') return env; // no esbuild: nothing to preload cheaply
  return {
    ...env,
    // As a file URL: a path with a space would split NODE_OPTIONS, one with `#` or `%` be read as URL syntax.
    NODE_OPTIONS: [env.NODE_OPTIONS, `--import=${pathToFileURL(preload).href}`].filter(Boolean).join(' '),
    [KEY_CLAIMS_ENV]: process.env[KEY_CLAIMS_ENV],
    UNWRAPD_TEST_CHILD_KEY_POOL: '1',
  };
}
