import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import { encodeContext, type EncryptionContext } from '../src/crypto/encryption-context.js';
import {
  deriveWrappingKey,
  openBlock,
  parseEnvelope,
  rewrapEnvelope,
  sealBlock,
  type EnvelopeRef,
} from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { applyMutation, layoutOf, mutationArb, type Layout, type Mutation } from './helpers/envelope-mutations.js';
import { fuzzRuns } from './helpers/fuzz.js';

/**
 * Property tests of the single-block envelope (src/crypto/envelope.ts, envelope-format.ts):
 * - any plaintext, context and ids round-trip, and open under any other context fails;
 * - a mutated envelope (bit flips, substitutions, truncations, extensions, splices, edited length fields,
 *   version and ids, fields grafted from other envelopes) never opens to anything but the plaintext of the
 *   envelope it is byte-identical to (under that envelope's context), and every refusal is the one generic
 *   decryptionFailed(): never another error, never a crash.
 * Opening follows the daemon's flow: parse, derive the KEK for the ids the (mutated) envelope claims from the
 * intermediate key (as if every claimed policy existed), open. A hang would fail the test by its timeout.
 *
 * `npm run fuzz -- --runs N test/envelope.property.test.ts` runs N cases per property. Everything is
 * deterministic given fast-check's seed (the pool below is sealed with fixed randomness), so a failure's
 * printed seed and path replay it.
 */

const IK = SecretKey.copyFrom(Buffer.alloc(32, 0x42));

/** Deterministic "randomness" for sealing the pool: SHA-256 of a label and a counter. */
function fixedRandom(label: string): (n: number) => Buffer {
  let i = 0;
  return (n) => createHash('sha256').update(`${label}/${i++}`).digest().subarray(0, n);
}

function withKek<T>(ref: EnvelopeRef, fn: (kek: SecretKey) => T): T {
  const kek = deriveWrappingKey(IK, ref);
  try {
    return fn(kek);
  } finally {
    kek.destroy();
  }
}

/**
 * The KEK of a claimed ref, derived once (two HMACs) and kept: most mutations leave the ids alone, and the
 * derivation is deterministic, so caching changes nothing but the cost per case. Bounded (cleared when full)
 * since relabelled and bit-flipped ids keep coming.
 */
const KEKS = new Map<string, SecretKey>();
function kekFor(ref: EnvelopeRef): SecretKey {
  const id = `${ref.tenant}/${ref.policyId}/${ref.keyVersion}`;
  let kek = KEKS.get(id);
  if (kek === undefined) {
    if (KEKS.size >= 4096) {
      for (const k of KEKS.values()) k.destroy();
      KEKS.clear();
    }
    kek = deriveWrappingKey(IK, ref);
    KEKS.set(id, kek);
  }
  return kek;
}

/**
 * Runs a property with stack traces off: each refused envelope throws (and Node's ciphers throw inside) a few
 * errors, whose stack capture would be most of the cost of a case. Messages are kept, and a failure's seed
 * replays it with stacks on.
 */
function cheapErrors<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The daemon's open: parse, the KEK of the ids the envelope claims, open. */
function open(envelope: Uint8Array, context: EncryptionContext): Buffer {
  const parsed = parseEnvelope(envelope);
  return openBlock(parsed, kekFor(parsed), context);
}

/** undefined when `err` is exactly the generic decryption failure. */
function unexpected(err: unknown): string | undefined {
  if (err instanceof UnwrapdError && err.code === 'decryption_failed' && err.message === DECRYPTION_FAILED_MESSAGE)
    return undefined;
  return err instanceof UnwrapdError ? `${err.code}: ${err.message}` : String(err);
}

// ---- the pool of genuine envelopes that mutations start from, splice and graft ----------------------------

const CONTEXTS: EncryptionContext[] = [
  {},
  { mailbox: 'alice@contoso.example' },
  { mailbox: 'bob@contoso.example' },
  { a: '', b: 'x' },
  { site: 'é', object: '😀', 'k\u0000': 'v\u0000' },
];
const REFS: EnvelopeRef[] = [
  { tenant: 'contoso', policyId: 'dep-a', keyVersion: 1 },
  { tenant: 'contoso', policyId: 'dep-b', keyVersion: 2 },
  { tenant: 'a', policyId: 'b', keyVersion: 0xffff_ffff },
  { tenant: 'x'.repeat(64), policyId: 'y'.repeat(64), keyVersion: 7 },
];
const LENGTHS = [0, 1, 15, 16, 17, 40, 100];

interface PoolEntry {
  envelope: Buffer;
  plaintext: Buffer;
  context: EncryptionContext;
  contextIndex: number;
}
const POOL: PoolEntry[] = [];
for (let i = 0; i < 16; i++) {
  const ref = REFS[i % REFS.length] as EnvelopeRef;
  const contextIndex = i % CONTEXTS.length;
  const context = CONTEXTS[contextIndex] as EncryptionContext;
  const plaintext = Buffer.from(
    Array.from({ length: LENGTHS[i % LENGTHS.length] as number }, (_, j) => (i * 31 + j * 7) & 0xff),
  );
  const envelope = withKek(ref, (kek) => sealBlock({ ref, kek, plaintext, context, random: fixedRandom(`env/${i}`) }));
  POOL.push({ envelope, plaintext, context, contextIndex });
}
const ENVELOPES = POOL.map((e) => e.envelope);
const LAYOUTS: Layout[] = ENVELOPES.map(layoutOf);
/** Each genuine envelope by its bytes, to know what a mutation that happened to rebuild one may open to. */
const GENUINE = new Map(POOL.map((e, i) => [e.envelope.toString('latin1'), i]));
const ENCODED_CONTEXTS = CONTEXTS.map((c) => encodeContext(c));

test('the pool: every genuine envelope opens under its own context and no other', (t) => {
  t.is(GENUINE.size, POOL.length);
  for (const e of POOL) {
    t.deepEqual(open(e.envelope, e.context), e.plaintext);
    for (let c = 0; c < CONTEXTS.length; c++) {
      if (c !== e.contextIndex)
        t.is(unexpected(catching(() => open(e.envelope, CONTEXTS[c] as EncryptionContext))), undefined);
    }
  }
});

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return new Error('returned');
}

// ---- round trip ------------------------------------------------------------------------------------------

const idArb = fc
  .tuple(fc.constantFrom(...'abcXYZ019'), fc.string({ unit: fc.constantFrom(...'aZ9._-'), maxLength: 63 }))
  .map(([a, b]) => a + b);
/** Valid contexts: any Unicode (no lone surrogates), within the limits for the sizes drawn. */
const contextArb = fc.dictionary(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 16 }),
  { maxKeys: 4 },
);

test('round trip: any plaintext, context and ids open to the plaintext, and under any other context fail', (t) => {
  const start = process.cpuUsage();
  cheapErrors(() =>
    fc.assert(
      fc.property(
        fc.record({ tenant: idArb, policyId: idArb, keyVersion: fc.integer({ min: 1, max: 0xffff_ffff }) }),
        fc.uint8Array({ maxLength: 300 }),
        contextArb,
        contextArb,
        (ref, plaintext, context, other) =>
          withKek(ref, (kek) => {
            // One KEK for seal and open (random ids would only churn the cache of open()).
            const envelope = sealBlock({ ref, kek, plaintext, context });
            const parsed = parseEnvelope(envelope);
            if (
              parsed.tenant !== ref.tenant ||
              parsed.policyId !== ref.policyId ||
              parsed.keyVersion !== ref.keyVersion
            )
              return false;
            if (!openBlock(parsed, kek, context).equals(plaintext)) return false;
            if (encodeContext(other).equals(encodeContext(context))) return true;
            return unexpected(catching(() => openBlock(parsed, kek, other))) === undefined;
          }),
      ),
      { numRuns: fuzzRuns(300) },
    ),
  );
  t.log(rate(fuzzRuns(300), process.cpuUsage(start)));
  t.pass();
});

// ---- mutations -------------------------------------------------------------------------------------------

/**
 * Undefined when opening `mutated` under context `c` behaved: it opened to the plaintext of the genuine
 * envelope it is byte-identical to (under that envelope's context), or failed with the generic error.
 */
function openProblem(mutated: Buffer, c: number): string | undefined {
  const same = GENUINE.get(mutated.toString('latin1'));
  const genuine = same === undefined ? undefined : (POOL[same] as PoolEntry);
  const expected =
    genuine && ENCODED_CONTEXTS[genuine.contextIndex]!.equals(ENCODED_CONTEXTS[c]!) ? genuine.plaintext : undefined;
  let out: Buffer;
  try {
    out = open(mutated, CONTEXTS[c] as EncryptionContext);
  } catch (err) {
    if (expected !== undefined) return `a genuine envelope failed to open: ${String(err)}`;
    return unexpected(err);
  }
  if (expected === undefined) return `a mutated envelope opened (${out.length} bytes)`;
  return out.equals(expected) ? undefined : 'a genuine envelope opened to other bytes';
}

const mutationCase = fc.record({
  base: fc.nat({ max: POOL.length - 1 }),
  mutations: fc.array(mutationArb(POOL.length), { minLength: 1, maxLength: 3 }),
  // Mostly the envelope's own context (the strongest case: the right key and context, bytes changed).
  otherContext: fc.option(fc.nat({ max: CONTEXTS.length - 1 }), { freq: 4 }),
});

function mutate(base: number, mutations: readonly Mutation[]): Buffer {
  let b = ENVELOPES[base] as Buffer;
  for (const m of mutations) b = applyMutation(b, m, LAYOUTS[base] as Layout, ENVELOPES, LAYOUTS);
  return b;
}

/** CPU time per case of a property run, for the figures in docs/testing.md. */
function rate(runs: number, cpu: NodeJS.CpuUsage): string {
  const seconds = (cpu.user + cpu.system) / 1e6;
  return `${runs} cases in ${seconds.toFixed(1)} s of CPU: ${Math.round(runs / seconds)} cases/s`;
}

test('mutated envelopes: open returns the original plaintext only for a genuine envelope, else the generic error', (t) => {
  let opened = 0;
  const start = process.cpuUsage();
  cheapErrors(() =>
    fc.assert(
      fc.property(mutationCase, ({ base, mutations, otherContext }) => {
        const c = otherContext ?? (POOL[base] as PoolEntry).contextIndex;
        const mutated = mutate(base, mutations);
        const problem = openProblem(mutated, c);
        if (problem !== undefined) throw new Error(problem);
        if (GENUINE.has(mutated.toString('latin1'))) opened++;
      }),
      { numRuns: fuzzRuns(3000) },
    ),
  );
  t.log(rate(fuzzRuns(3000), process.cpuUsage(start)));
  t.log(`${opened} mutation chains rebuilt a genuine envelope`);
  t.pass();
});

/** Each genuine envelope by its fixed header (its nonce is its own): the only content a rewrap can carry. */
const BY_FIXED_HEADER = new Map(POOL.map((e, i) => [parseEnvelope(e.envelope).fixedHeader.toString('latin1'), i]));

test('mutated envelopes: a rewrap never yields an envelope that opens to anything but the original plaintext', (t) => {
  // Rewrap checks the unwrap and the commitment, not the tag (no context is given); what it returns must
  // open only if its fixed header and body are those of a genuine envelope, and then to that plaintext.
  const to = { policyId: 'dep-z', keyVersion: 3 };
  const start = process.cpuUsage();
  cheapErrors(() =>
    fc.assert(
      fc.property(mutationCase, ({ base, mutations, otherContext }) => {
        const mutated = mutate(base, mutations);
        let rewrapped: Buffer;
        try {
          const parsed = parseEnvelope(mutated);
          const target = { ...to, tenant: parsed.tenant };
          rewrapped = rewrapEnvelope(parsed, kekFor(parsed), { ref: target, kek: kekFor(target) });
        } catch (err) {
          const problem = unexpected(err);
          if (problem !== undefined) throw new Error(`rewrap: ${problem}`);
          return;
        }
        const out = parseEnvelope(rewrapped);
        const g = BY_FIXED_HEADER.get(out.fixedHeader.toString('latin1'));
        const genuine = g === undefined ? undefined : (POOL[g] as PoolEntry);
        const c = otherContext ?? (genuine ?? (POOL[base] as PoolEntry)).contextIndex;
        const expected =
          genuine && genuine.contextIndex === c && out.body.equals(parseEnvelope(genuine.envelope).body)
            ? genuine.plaintext
            : undefined;
        let pt: Buffer;
        try {
          pt = open(rewrapped, CONTEXTS[c] as EncryptionContext);
        } catch (err) {
          const problem =
            expected !== undefined ? `a rewrapped genuine envelope failed: ${String(err)}` : unexpected(err);
          if (problem !== undefined) throw new Error(problem);
          return;
        }
        if (expected === undefined || !pt.equals(expected))
          throw new Error(`a rewrapped envelope opened to ${pt.length} unexpected bytes`);
      }),
      { numRuns: fuzzRuns(1000) },
    ),
  );
  t.log(rate(fuzzRuns(1000), process.cpuUsage(start)));
  t.pass();
});
