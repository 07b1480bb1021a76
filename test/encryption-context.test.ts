import test, { type ExecutionContext } from 'ava';
import { UnwrapdError } from '../src/errors.js';
import {
  compareUtf8,
  encodeContext,
  MAX_CONTEXT_ENCODED_BYTES,
  MAX_CONTEXT_ENTRIES,
  MAX_CONTEXT_KEY_BYTES,
  MAX_CONTEXT_VALUE_BYTES,
  validateContext,
  type EncryptionContext,
} from '../src/crypto/encryption-context.js';

function assertInvalid(t: ExecutionContext, ctx: unknown, message: RegExp): void {
  for (const fn of [() => validateContext(ctx as EncryptionContext), () => encodeContext(ctx as EncryptionContext)]) {
    const err = t.throws(fn, { instanceOf: UnwrapdError });
    t.is(err?.code, 'invalid_argument');
    t.regex(err?.message ?? '', message);
  }
}

const key = (i: number, len: number): string => `k${String(i).padStart(3, '0')}`.padEnd(len, 'x');

test('limits: the exported constants', (t) => {
  t.is(MAX_CONTEXT_ENTRIES, 32);
  t.is(MAX_CONTEXT_KEY_BYTES, 128);
  t.is(MAX_CONTEXT_VALUE_BYTES, 1024);
  t.is(MAX_CONTEXT_ENCODED_BYTES, 16384);
});

test('limits: 33 entries is invalidArgument; 32 is accepted', (t) => {
  const ctx32 = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [key(i, 4), 'v']));
  t.notThrows(() => validateContext(ctx32));
  assertInvalid(t, { ...ctx32, extra: 'v' }, /encryption context has 33 entries; at most 32 are allowed/);
});

test('limits: an empty key is invalidArgument', (t) => {
  assertInvalid(t, { '': 'v' }, /encryption context key #1 is 0 bytes of UTF-8; keys must be 1\.\.128 bytes/);
});

test('limits: a 129-byte key is invalidArgument; 128 is accepted; bytes, not characters, count', (t) => {
  t.notThrows(() => validateContext({ [key(0, 128)]: 'v' }));
  assertInvalid(t, { [key(0, 129)]: 'v' }, /key #1 is 129 bytes of UTF-8; keys must be 1\.\.128 bytes/);
  // '€' is 3 bytes of UTF-8: 42 of them = 126 bytes (ok), 43 = 129 bytes (too long) though only 43 characters.
  t.notThrows(() => validateContext({ ['€'.repeat(42)]: 'v' }));
  assertInvalid(t, { ['€'.repeat(43)]: 'v' }, /key #1 is 129 bytes/);
});

test('limits: a 1025-byte value is invalidArgument; 1024 and empty are accepted', (t) => {
  t.notThrows(() => validateContext({ a: 'v'.repeat(1024) }));
  t.notThrows(() => validateContext({ a: '' }));
  assertInvalid(
    t,
    { a: 'ok', b: 'v'.repeat(1025) },
    /value #2 is 1025 bytes of UTF-8; values must be at most 1024 bytes/,
  );
  assertInvalid(t, { a: 'é'.repeat(513) }, /value #1 is 1026 bytes/);
});

test('limits: a total encoding over 16 KiB is invalidArgument; exactly 16 KiB is accepted', (t) => {
  // 14 full entries: 14 * (2 + 128 + 2 + 1024) = 16184, + 2 for the count = 16186; one more entry of 198
  // encoded bytes (2 + 10 + 2 + 184) reaches exactly 16384.
  const ctx: Record<string, string> = {};
  for (let i = 0; i < 14; i++) ctx[key(i, 128)] = 'v'.repeat(1024);
  ctx[key(99, 10)] = 'v'.repeat(184);
  t.is(encodeContext(ctx).length, 16384);
  ctx[key(99, 10)] = 'v'.repeat(185);
  assertInvalid(t, ctx, /encryption context encodes to 16385 bytes; at most 16384 are allowed/);
});

test('limits: non-string values, non-objects and lone surrogates are invalidArgument', (t) => {
  assertInvalid(t, { a: 1 }, /value #1 is not a string/);
  assertInvalid(t, { a: 'x', b: null }, /value #2 is not a string/);
  assertInvalid(t, null, /must be a map/);
  assertInvalid(t, 'a=b', /must be a map/);
  assertInvalid(t, ['a'], /must be a map/);
  assertInvalid(t, { '\uD800': 'x' }, /key #1 is not well-formed Unicode/);
  assertInvalid(t, { a: 'x\uDC00' }, /value #1 is not well-formed Unicode/);
  t.notThrows(() => validateContext({ '\u{1F600}': '\u{1F601}' }), 'a surrogate pair is fine');
});

test('limits: messages never echo the keys or values', (t) => {
  const secretish = 'user-4711@contoso.example';
  for (const ctx of [{ [secretish + 'x'.repeat(200)]: 'v' }, { k: secretish.repeat(100) }, { [secretish]: 5 }]) {
    const err = t.throws(() => validateContext(ctx as unknown as EncryptionContext));
    t.false(err?.message.includes('user-4711'));
  }
});

test('encoding: exact bytes of {a: "1", b: "2"} (u16 count, then u16 len + bytes per key and value)', (t) => {
  t.is(
    encodeContext({ a: '1', b: '2' }).toString('hex'),
    '0002' + '0001' + '61' + '0001' + '31' + '0001' + '62' + '0001' + '32',
  );
  t.is(encodeContext({}).toString('hex'), '0000');
  t.is(encodeContext({ k: '' }).toString('hex'), '0001' + '0001' + '6b' + '0000');
});

test('encoding: entry order does not matter', (t) => {
  t.deepEqual(encodeContext({ a: '1', b: '2' }), encodeContext({ b: '2', a: '1' }));
  const entries = Array.from({ length: 20 }, (_, i) => [`key-${(i * 7) % 20}`, `v${i}`] as const);
  const shuffled = [...entries].reverse();
  t.deepEqual(encodeContext(Object.fromEntries(entries)), encodeContext(Object.fromEntries(shuffled)));
});

test('encoding: keys are sorted by UTF-8 bytes, not UTF-16 code units', (t) => {
  // U+FF21 (EF BC A1) < U+1F600 (F0 9F 98 80) in UTF-8, but "\uFF21" > "\uD83D\uDE00" in UTF-16.
  const enc = encodeContext({ '\u{1F600}': 'b', '\uFF21': 'a' });
  t.is(enc.toString('hex'), '0002' + '0003efbca1' + '000161' + '0004f09f9880' + '000162');
  const keys = ['b', 'a', '\u{1F600}', '\uFF21', 'é', 'Z', '\u{10FFFF}', '\uE000', '\uD7FF', 'ab', 'a\u0000'];
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.deepEqual([...keys].sort(compareUtf8), byBytes);
});

test('encoding: no two different maps encode alike (length prefixes, count)', (t) => {
  const maps: EncryptionContext[] = [
    {},
    { a: '' },
    { a: 'bc' },
    { ab: 'c' },
    { abc: '' },
    { a: 'b', c: '' },
    { a: '', bc: '' },
    { a: 'b\u0000c' },
    { 'a\u0000': 'bc' },
    { a: '1', b: '2' },
    { a: '2', b: '1' },
    { b: '1' },
    { '\u{1F600}': '' },
    { '\uFFFD': '' },
  ];
  const seen = new Map<string, number>();
  maps.forEach((m, i) => {
    const h = encodeContext(m).toString('hex');
    t.false(seen.has(h), `map ${i} encodes like map ${seen.get(h)}`);
    seen.set(h, i);
  });
});

test('encoding: decodes back to the same map (the encoding is a parseable, injective format)', (t) => {
  const ctx = { site: 'https://x.example/a', '\u{1F600}': 'grin', object: 'doc-1', empty: '', schlüssel: 'wert ä' };
  const enc = encodeContext(ctx);
  const out: Record<string, string> = {};
  let off = 2;
  for (let i = 0; i < enc.readUInt16BE(0); i++) {
    const kl = enc.readUInt16BE(off);
    const k = enc.toString('utf8', off + 2, off + 2 + kl);
    off += 2 + kl;
    const vl = enc.readUInt16BE(off);
    out[k] = enc.toString('utf8', off + 2, off + 2 + vl);
    off += 2 + vl;
  }
  t.is(off, enc.length);
  t.deepEqual(out, ctx);
});
