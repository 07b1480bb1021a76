/**
 * `unwrapd` from the sources with the test RSA key pool (setup.ts): what fleet-instance.ts runs as
 * `<this file> serve` in a test process, compiled once by compiled-child.ts. bin/unwrapd.js would run dist/
 * when that is current, whose key source setup.ts cannot reach.
 */
import './setup.js';

await import('../../src/cli/main.js');
