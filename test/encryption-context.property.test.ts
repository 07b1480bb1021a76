import test from 'ava';
import fc from 'fast-check';
import { UnwrapdError } from '../src/errors.js';
import {
  compareUtf8,
  encodeContext,
  MAX_CONTEXT_ENCODED_BYTES,
  MAX_CONTEXT_ENTRIES,
  MAX_CONTEXT_KEY_BYTES,
  MAX_CONTEXT_VALUE_BYTES,
  MIN_CONTEXT_KEY_BYTES,
  validateContext,
  type EncryptionContext,
} from '../src/crypto/encryption-context.js';
import { fuzzRuns } from './helpers/fuzz.js';

/**
 * Property tests of the encryption context encoding (src/crypto/encryption-context.ts), the AAD every block
 * and segment is bound to: it must be canonical (the order keys were inserted in does not matter), injective
 * (two different maps never encode alike: a reference decoder written from docs/envelope-format.md gives the
 * map back, and near-miss pairs such as {ab: c} / {a: bc} encode differently), and the limits must hold
 * exactly: a context is accepted if and only if an independent model of the limits says so, and is otherwise
 * refused with invalid_argument whose message carries no key or value.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The documented format, decoded strictly: u16 count, then (u16 len, key, u16 len, value) in ascending key bytes. */
function decode(buf: Buffer): Array<[string, string]> {
  let off = 0;
  const u16 = () => {
    if (off + 2 > buf.length) throw new Error('truncated length');
    const v = buf.readUInt16BE(off);
    off += 2;
    return v;
  };
  const bytes = () => {
    const n = u16();
    if (off + n > buf.length) throw new Error('truncated string');
    const b = buf.subarray(off, off + n);
    off += n;
    return b;
  };
  const count = u16();
  const out: Array<[string, string]> = [];
  let previous: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    const key = bytes();
    if (previous && Buffer.compare(previous, key) >= 0) throw new Error('keys not in strictly ascending byte order');
    previous = key;
    out.push([utf8.decode(key), utf8.decode(bytes())]);
  }
  if (off !== buf.length) throw new Error('trailing bytes');
  return out;
}

const entriesOf = (ctx: EncryptionContext): Array<[string, string]> =>
  Object.keys(ctx)
    .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
    .map((k) => [k, ctx[k] as string]);

const sameMap = (a: EncryptionContext, b: EncryptionContext): boolean =>
  JSON.stringify(entriesOf(a)) === JSON.stringify(entriesOf(b));

/** The same entries inserted in another order (a permutation drawn from `seed`). */
function reordered(ctx: EncryptionContext, seed: number): EncryptionContext {
  const keys = Object.keys(ctx);
  let s = seed >>> 0 || 1;
  for (let i = keys.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
  }
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = ctx[k] as string;
  return out;
}

// Characters of every UTF-8 length (1 to 4 bytes), NUL, and the code points around the surrogate range.
const CHARS = [
  'a',
  'b',
  'z',
  '\u0000',
  '=',
  ',',
  '\u007f',
  'é',
  '\u07ff',
  '€',
  '\ud7ff',
  '\ue000',
  '\uffff',
  '😀',
  '\u{10ffff}',
];
const charArb = fc.constantFrom(...CHARS);
const validKeyArb = fc.string({ unit: charArb, minLength: 1, maxLength: 6 });
const validValueArb = fc.string({ unit: charArb, maxLength: 8 });
const validContextArb = fc.dictionary(validKeyArb, validValueArb, { maxKeys: 6 });

test('canonical: the encoding does not depend on the order the keys were inserted in', (t) => {
  fc.assert(
    fc.property(validContextArb, fc.nat(), (ctx, seed) =>
      encodeContext(ctx).equals(encodeContext(reordered(ctx, seed))),
    ),
    { numRuns: fuzzRuns(500) },
  );
  t.pass();
});

test('injective: a strict decoder of the documented format gives every valid context back', (t) => {
  fc.assert(
    fc.property(
      validContextArb,
      (ctx) => JSON.stringify(decode(encodeContext(ctx))) === JSON.stringify(entriesOf(ctx)),
    ),
    { numRuns: fuzzRuns(500) },
  );
  t.pass();
});

/** A context one small edit away from `ctx`: where a sloppy encoding would collide. */
const nearMissArb = validContextArb.chain((ctx) => {
  const keys = Object.keys(ctx);
  const edits: fc.Arbitrary<EncryptionContext>[] = [
    fc.tuple(validKeyArb, validValueArb).map(([k, v]) => ({ ...ctx, [k]: v })), // add or replace an entry
  ];
  if (keys.length > 0) {
    const key = fc.constantFrom(...keys);
    edits.push(
      key.map((k) => Object.fromEntries(Object.entries(ctx).filter(([x]) => x !== k))), // drop an entry
      fc.tuple(key, charArb).map(([k, c]) => ({ ...ctx, [k]: (ctx[k] as string) + c })), // lengthen a value
      key.map((k) => {
        // move the key's last character to the front of its value: {ab: c} -> {a: bc}
        const chars = [...k];
        if (chars.length < 2) return { ...ctx, [`${k}${k}`]: '' };
        const rest = Object.fromEntries(Object.entries(ctx).filter(([x]) => x !== k));
        return { ...rest, [chars.slice(0, -1).join('')]: chars[chars.length - 1] + (ctx[k] as string) };
      }),
      key.map((k) => ({
        ...Object.fromEntries(Object.entries(ctx).filter(([x]) => x !== k)),
        [(ctx[k] as string) || 'x']: k,
      })), // swap key and value
    );
  }
  return fc.tuple(fc.constant(ctx), fc.oneof(...edits));
});

test('injective: different contexts, and near misses such as {ab: c} / {a: bc}, never encode alike', (t) => {
  let distinct = 0;
  fc.assert(
    fc.property(fc.oneof(nearMissArb, fc.tuple(validContextArb, validContextArb)), ([a, b]) => {
      if (sameMap(a, b)) return encodeContext(a).equals(encodeContext(b));
      distinct++;
      return !encodeContext(a).equals(encodeContext(b));
    }),
    { numRuns: fuzzRuns(1000) },
  );
  t.true(distinct > 0);
});

test('compareUtf8 orders well-formed strings exactly as their UTF-8 bytes', (t) => {
  const s = fc.string({ unit: 'binary', maxLength: 6 });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(s, s),
        fc.tuple(fc.string({ unit: charArb, maxLength: 4 }), fc.string({ unit: charArb, maxLength: 4 })),
      ),
      ([a, b]) => {
        return (
          Math.sign(compareUtf8(a, b)) === Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
        );
      },
    ),
    { numRuns: fuzzRuns(1000) },
  );
  t.pass();
});

// ---- limits ----------------------------------------------------------------------------------------------

const LONE = /\p{Cs}/u; // a surrogate code unit not part of a pair: with the u flag, pairs are one code point

/** An independent model of the documented limits: undefined if `ctx` is valid, else why not. */
function modelRefusal(ctx: unknown): string | undefined {
  if (ctx === null || typeof ctx !== 'object' || Array.isArray(ctx)) return 'not a map';
  const keys = Object.keys(ctx);
  if (keys.length > MAX_CONTEXT_ENTRIES) return 'entries';
  let total = 2;
  for (const k of keys) {
    const v = (ctx as Record<string, unknown>)[k];
    if (typeof v !== 'string') return 'value type';
    if (LONE.test(k) || LONE.test(v)) return 'surrogate';
    const kb = Buffer.byteLength(k, 'utf8');
    const vb = Buffer.byteLength(v, 'utf8');
    if (kb < MIN_CONTEXT_KEY_BYTES || kb > MAX_CONTEXT_KEY_BYTES) return 'key size';
    if (vb > MAX_CONTEXT_VALUE_BYTES) return 'value size';
    total += 4 + kb + vb;
  }
  return total > MAX_CONTEXT_ENCODED_BYTES ? 'total size' : undefined;
}

/** A string of `n` copies of one character, so byte lengths land on and around the limits. */
const runArb = (maxChars: number) =>
  fc
    .tuple(fc.constantFrom('a', 'é', '€', '😀', '\ud800', '\udfff'), fc.nat({ max: maxChars }))
    .map(([c, n]) => c.repeat(n));
const anyKeyArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: charArb, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 4 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.constantFrom('a', '\ud800', '\udc00', '😀'), minLength: 1, maxLength: 4 }),
  }, // lone halves
  { weight: 1, arbitrary: runArb(130) },
);
const anyValueArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: charArb, maxLength: 8 }) },
  { weight: 2, arbitrary: runArb(1030) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', '\ud800', '\udc00', '😀'), maxLength: 4 }) },
);
const anyContextArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(anyKeyArb, anyValueArb, { maxKeys: 4 }) },
  // many entries: around the entry limit, and with long values around the 16 KiB total
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1, max: MAX_CONTEXT_ENTRIES + 2 }),
        fc.constantFrom('', 'v', 'v'.repeat(500), 'v'.repeat(520), 'v'.repeat(1024)),
      )
      .map(([n, v]) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key-${i}`, v]))),
  },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), fc.anything(), { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.anything() },
);

test('limits: a context is accepted exactly when it is within every limit, else refused with invalid_argument naming no key or value', (t) => {
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(anyContextArb, (ctx) => {
      const expected = modelRefusal(ctx);
      outcomes.set(expected ?? 'valid', (outcomes.get(expected ?? 'valid') ?? 0) + 1);
      for (const fn of [
        () => validateContext(ctx as EncryptionContext),
        () => encodeContext(ctx as EncryptionContext),
      ]) {
        try {
          fn();
        } catch (err) {
          if (!(err instanceof UnwrapdError) || err.code !== 'invalid_argument')
            throw new Error(`threw ${String(err)}`);
          if (expected === undefined) throw new Error(`a valid context was refused: ${err.message}`);
          const leaked = (ctx !== null && typeof ctx === 'object' ? Object.entries(ctx).flat() : []).filter(
            (s) => typeof s === 'string' && s.length >= 6 && err.message.includes(s),
          );
          if (leaked.length > 0) throw new Error('the message carries a key or value');
          continue;
        }
        if (expected !== undefined) throw new Error(`an invalid context (${expected}) was accepted`);
      }
    }),
    { numRuns: fuzzRuns(1000) },
  );
  t.log([...outcomes].map(([k, n]) => `${k}: ${n}`).join(', '));
  // The generators must reach every kind of refusal, or the property proves less than it claims.
  // (Checked at the default count and above; a smaller --runs may not reach them all.)
  const kinds = ['valid', 'not a map', 'entries', 'value type', 'surrogate', 'key size', 'value size', 'total size'];
  t.deepEqual(fuzzRuns(1000) >= 1000 ? kinds.filter((kind) => !outcomes.has(kind)) : [], []);
});
