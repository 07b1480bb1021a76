/**
 * Property tests of the segmented (stream) envelope, both format versions (docs/envelope-format.md §8):
 *
 *   1. seal/open round-trip for random plaintexts, segment sizes and contexts, with the plaintext fed to the
 *      sealer and the envelope fed to the opener in any chunking;
 *   2. for mutated envelopes (bit flips anywhere, truncation, extension, insertion, deletion, segments reordered,
 *      duplicated, dropped or spliced from another stream, header fields edited) the reader never returns a
 *      wrong plaintext: what it releases before failing is a prefix of the original (authenticated segments
 *      only), it fails with the one typed decryption error and nothing else, it never allocates more than the
 *      bytes it was given warrant, and it finishes (the opener is synchronous and consumes its input once).
 *
 * `npm test` runs a bounded number of cases; `npm run fuzz -- --runs N` runs N of each. Each case is cheap
 * (kilobyte streams, one KEK per property, a pool of envelopes sealed once), so 10^6 cases are minutes.
 */
import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { UnwrapdError } from '../src/errors.js';
import type { EncryptionContext } from '../src/crypto/encryption-context.js';
import { deriveWrappingKey, type EnvelopeRef } from '../src/crypto/envelope.js';
import {
  parseSegmentedHeader,
  segmentedEnvelopeLength,
  type SegmentedVersion,
} from '../src/crypto/segmented-format.js';
import { SegmentOpener, SegmentSealer } from '../src/crypto/segmented.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { fuzzRuns } from './helpers/fuzz.js';

const IK = SecretKey.copyFrom(createHash('sha256').update('segmented property ik').digest());
const REF: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 7 };
const KEK = deriveWrappingKey(IK, REF); // one KEK for every case of the round-trip property
/** KEKs of the refs a mutated header names, derived once each (most mutations keep the ref). */
const keks = new Map<string, SecretKey>([[`${REF.tenant}/${REF.policyId}/${REF.keyVersion}`, KEK]]);
function kekFor(ref: EnvelopeRef): SecretKey {
  const id = `${ref.tenant}/${ref.policyId}/${ref.keyVersion}`;
  let kek = keks.get(id);
  if (!kek) {
    kek = deriveWrappingKey(IK, ref);
    if (keks.size < 10_000) keks.set(id, kek);
  }
  return kek;
}

const CONTEXTS: EncryptionContext[] = [{}, { site: 'hr' }, { object: 'doc-1', '\u{1F600}': 'x' }];

/** `n` deterministic pseudo-random bytes from a seed (xorshift32): cheap, no crypto needed for content. */
function bytesOf(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Splits `buf` into pieces of the given sizes (cycled; each at least 1). */
function* pieces(buf: Buffer, sizes: number[]): Generator<Buffer> {
  for (let off = 0, i = 0; off < buf.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] as number);
    yield buf.subarray(off, off + n);
    off += n;
  }
}

function seal(
  version: SegmentedVersion,
  segmentSize: number,
  plaintext: Buffer,
  context: EncryptionContext,
  chunks: number[] = [plaintext.length || 1],
): Buffer {
  const sealer = new SegmentSealer({ ref: REF, kek: KEK, context, segmentSize, formatVersion: version });
  try {
    const parts = [sealer.header];
    for (const piece of pieces(plaintext, chunks)) for (const seg of sealer.push(piece)) parts.push(seg);
    parts.push(sealer.final());
    return Buffer.concat(parts);
  } finally {
    sealer.destroy();
  }
}

interface Outcome {
  released: Buffer;
  error?: unknown;
  maxAllocated: number;
}

/** Opens `envelope` fed in `chunks`, keeping what was released before any failure. */
function open(envelope: Buffer, context: EncryptionContext, chunks: number[]): Outcome {
  const opener = new SegmentOpener({ context });
  const out: Buffer[] = [];
  let maxAllocated = 0;
  let unlocked = false;
  try {
    for (let piece of pieces(envelope, chunks)) {
      if (!unlocked) {
        const read = opener.readHeader(piece);
        if (!read) continue;
        opener.unlock(kekFor(read.header));
        unlocked = true;
        piece = read.rest;
      }
      for (const pt of opener.push(piece)) out.push(pt);
      maxAllocated = Math.max(maxAllocated, opener.allocatedBytes);
    }
    out.push(opener.final());
    return { released: Buffer.concat(out), maxAllocated };
  } catch (error) {
    return { released: Buffer.concat(out), error, maxAllocated };
  } finally {
    opener.destroy();
  }
}

const chunking = fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 6 });

// ---- 1. round trip -----------------------------------------------------------------------------------------

test('property: seal/open round-trips for any plaintext, segment size, context and chunking (v1 and v2)', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom<SegmentedVersion>(1, 2, 2),
      fc.oneof(fc.integer({ min: 1024, max: 4096 }), fc.constantFrom(1024, 1025, 2048, 65536)),
      fc.integer({ min: 0, max: 12_000 }),
      fc.integer(),
      fc.constantFrom(...CONTEXTS),
      chunking,
      chunking,
      (version, segmentSize, length, seed, context, sealChunks, openChunks) => {
        const plaintext = bytesOf(seed, length);
        const env = seal(version, segmentSize, plaintext, context, sealChunks);
        const header = parseSegmentedHeader(env);
        if (!header || header.version !== version || header.segmentSize !== segmentSize) return false;
        if (env.length !== segmentedEnvelopeLength({ ...REF, version }, segmentSize, length)) return false;
        const r = open(env, context, openChunks);
        return r.error === undefined && r.released.equals(plaintext);
      },
    ),
    { numRuns: fuzzRuns(150) },
  );
  t.pass();
});

// ---- 2. mutated envelopes ------------------------------------------------------------------------------------

interface Sealed {
  version: SegmentedVersion;
  env: Buffer;
  plaintext: Buffer;
  context: EncryptionContext;
  headerLength: number;
  /** [offset, length] of each segment. */
  segments: [number, number][];
  /** Offsets of the header fields, for edits. */
  fields: Record<
    | 'version'
    | 'suite'
    | 'flags'
    | 'tenantLen'
    | 'size'
    | 'nonce'
    | 'commitment'
    | 'policyLen'
    | 'keyVersion'
    | 'wrappedLen'
    | 'wrapped'
    | 'tag',
    number
  >;
}

function sealed(
  version: SegmentedVersion,
  segmentSize: number,
  length: number,
  seed: number,
  context: EncryptionContext,
): Sealed {
  const plaintext = bytesOf(seed, length);
  const env = seal(version, segmentSize, plaintext, context);
  const h = parseSegmentedHeader(env)!;
  const segments: [number, number][] = [];
  const n = Math.floor(length / segmentSize) + 1;
  for (let i = 0, off = h.bytes.length; i < n; i++) {
    const len = (i === n - 1 ? length - i * segmentSize : segmentSize) + 16;
    segments.push([off, len]);
    off += len;
  }
  const t = REF.tenant.length;
  const F = h.fixedHeader.length;
  const p = REF.policyId.length;
  const fields = {
    version: 2,
    suite: 3,
    flags: 4,
    tenantLen: 5,
    size: version === 1 ? 50 + t : 6 + t,
    nonce: version === 1 ? 6 + t : 10 + t,
    commitment: version === 1 ? 18 + t : 22 + t,
    policyLen: F,
    keyVersion: F + 1 + p,
    wrappedLen: F + 5 + p,
    wrapped: F + 7 + p,
    tag: version === 2 ? F + 47 + p : F + 7 + p, // v1 has no tag: edit the wrapped key instead
  };
  return { version, env, plaintext, context, headerLength: h.bytes.length, segments, fields };
}

/** Envelopes sealed once: both versions, empty to several segments, two segment sizes, all contexts. */
const POOL: Sealed[] = [];
for (const version of [1, 2] as const) {
  for (const [segmentSize, length] of [
    [1024, 0],
    [1024, 1],
    [1024, 1023],
    [1024, 1024],
    [1024, 3 * 1024 + 100],
    [1500, 1500 * 2 + 7],
    [2048, 2047],
  ] as const) {
    POOL.push(
      sealed(version, segmentSize, length, length * 31 + version, CONTEXTS[(length + version) % CONTEXTS.length]!),
    );
  }
}

type Mutation =
  | { kind: 'flip'; at: number[]; mask: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'swap' | 'duplicate' | 'drop'; i: number; j: number }
  | { kind: 'splice'; i: number; from: number; j: number }
  | { kind: 'field'; field: keyof Sealed['fields']; value: number; size: number }
  | { kind: 'context' };

const SIZES = [0, 1, 1023, 1024, 1025, 1500, 2048, 65536, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 0xffff_ffff];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    mask: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    kind: fc.constantFrom('swap' as const, 'duplicate' as const, 'drop' as const),
    i: fc.nat(),
    j: fc.nat(),
  }),
  fc.record({ kind: fc.constant('splice' as const), i: fc.nat(), from: fc.nat(), j: fc.nat() }),
  fc.record({
    kind: fc.constant('field' as const),
    field: fc.constantFrom<keyof Sealed['fields']>(
      'version',
      'suite',
      'flags',
      'tenantLen',
      'size',
      'nonce',
      'commitment',
      'policyLen',
      'keyVersion',
      'wrappedLen',
      'wrapped',
      'tag',
    ),
    value: fc.oneof(fc.constantFrom(...SIZES), fc.nat({ max: 0xffff_ffff })),
    size: fc.constantFrom(1, 4),
  }),
  fc.record({ kind: fc.constant('context' as const) }),
);

/** The mutated envelope, and the context to open it with. */
function apply(s: Sealed, m: Mutation): { env: Buffer; context: EncryptionContext } {
  const env = s.env;
  const seg = (k: number) =>
    env.subarray(
      s.segments[k % s.segments.length]![0],
      s.segments[k % s.segments.length]![0] + s.segments[k % s.segments.length]![1],
    );
  const segs = s.segments.map((_, k) => seg(k));
  const head = env.subarray(0, s.headerLength);
  switch (m.kind) {
    case 'flip': {
      const c = Buffer.from(env);
      for (const at of m.at) c[at % c.length] = (c[at % c.length] as number) ^ m.mask;
      return { env: c, context: s.context };
    }
    case 'truncate':
      return { env: env.subarray(0, m.at % env.length), context: s.context };
    case 'extend':
      return { env: Buffer.concat([env, m.bytes]), context: s.context };
    case 'insert': {
      const at = m.at % (env.length + 1);
      return { env: Buffer.concat([env.subarray(0, at), m.bytes, env.subarray(at)]), context: s.context };
    }
    case 'delete': {
      const at = m.at % env.length;
      return { env: Buffer.concat([env.subarray(0, at), env.subarray(at + m.length)]), context: s.context };
    }
    case 'swap': {
      const i = m.i % segs.length;
      const j = m.j % segs.length;
      [segs[i], segs[j]] = [segs[j]!, segs[i]!];
      return { env: Buffer.concat([head, ...segs]), context: s.context };
    }
    case 'duplicate':
      segs.splice(m.i % segs.length, 0, seg(m.j));
      return { env: Buffer.concat([head, ...segs]), context: s.context };
    case 'drop':
      segs.splice(m.i % segs.length, 1);
      return { env: Buffer.concat([head, ...segs]), context: s.context };
    case 'splice': {
      const other = POOL[m.from % POOL.length]!;
      const [off, len] = other.segments[m.j % other.segments.length]!;
      segs[m.i % segs.length] = other.env.subarray(off, off + len);
      return { env: Buffer.concat([head, ...segs]), context: s.context };
    }
    case 'field': {
      const c = Buffer.from(env);
      const at = s.fields[m.field];
      if (m.size === 4 || m.field === 'size' || m.field === 'keyVersion') c.writeUInt32BE(m.value >>> 0, at);
      else c[at] = m.value & 0xff;
      return { env: c, context: s.context };
    }
    case 'context':
      return { env, context: s.context === CONTEXTS[1] ? CONTEXTS[2]! : CONTEXTS[1]! };
  }
}

test('property: a mutated envelope never opens to a wrong plaintext, fails only with the typed error, and allocates only what arrived', (t) => {
  let refused = 0;
  fc.assert(
    fc.property(fc.nat({ max: POOL.length - 1 }), mutation, chunking, (which, m, chunks) => {
      const s = POOL[which]!;
      const { env, context } = apply(s, m);
      const unchanged = env.equals(s.env) && context === s.context;
      const r = open(env, context, chunks);
      // Whatever was released is authenticated content: a prefix of the original plaintext.
      if (!s.plaintext.subarray(0, r.released.length).equals(r.released)) return false;
      // Buffers grow with the input: never sized from a header (at most 16 KiB to start, then doubling).
      if (r.maxAllocated > Math.max(16 * 1024, 2 * env.length)) return false;
      if (r.error === undefined) return unchanged && r.released.equals(s.plaintext);
      refused++;
      return (
        r.error instanceof UnwrapdError &&
        r.error.code === 'decryption_failed' &&
        r.error.message === 'decryption failed' &&
        r.error.cause === undefined
      );
    }),
    { numRuns: fuzzRuns(600) },
  );
  t.true(refused > 0, 'mutations were refused (the property can fail)');
});

test('property: a header field edit of a v2 envelope is refused before any segment is read', (t) => {
  const v2 = POOL.filter((s) => s.version === 2 && s.plaintext.length > 1024);
  fc.assert(
    fc.property(fc.nat({ max: v2.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, mask) => {
      const s = v2[which]!;
      const env = Buffer.from(s.env);
      env[at % s.headerLength] = (env[at % s.headerLength] as number) ^ mask;
      const opener = new SegmentOpener({ context: s.context });
      try {
        const read = opener.readHeader(env);
        if (!read) return false; // a v2 header edit never makes the header longer than the envelope here
        opener.unlock(kekFor(read.header));
        return false; // must not unlock
      } catch (err) {
        return err instanceof UnwrapdError && err.code === 'decryption_failed' && opener.allocatedBytes === 0;
      } finally {
        opener.destroy();
      }
    }),
    { numRuns: fuzzRuns(300) },
  );
  t.pass();
});
