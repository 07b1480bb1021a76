/**
 * Generates test/vectors/envelope-v1-suite2.json, the published test vectors of single-block envelopes of
 * suite 2 (docs/envelope-format.md §3.3): the inputs, the positive cases and the kinds of negative cases of
 * test/vectors/envelope-v1.json (scripts/gen-envelope-vectors.ts), sealed with suite 2.
 *
 *   node --import=tsx scripts/gen-envelope-suite2-vectors.ts           # write the file
 *   node --import=tsx scripts/gen-envelope-suite2-vectors.ts --check   # exit 1 if the file differs
 */
import { buildVectors } from './gen-envelope-vectors.js';
import { generateWhenRun, vectorsPath } from './vector-file.js';

export function buildSuite2Vectors(): unknown {
  return buildVectors(2);
}

generateWhenRun(import.meta.url, vectorsPath('envelope-v1-suite2.json'), buildSuite2Vectors);
