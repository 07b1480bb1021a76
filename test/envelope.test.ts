import test, { type ExecutionContext } from 'ava';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import { type EncryptionContext } from '../src/crypto/encryption-context.js';
import {
  deriveWrappingKey,
  MAX_ENVELOPE_OVERHEAD,
  MIN_ENVELOPE_OVERHEAD,
  openBlock,
  parseEnvelope,
  parseEnvelopeFor,
  rewrapEnvelope,
  sealBlock,
  type EnvelopeRef,
} from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import type { BlockPositiveVector, NegativeVector } from '../scripts/vector-types.js';
import { specContext, specKekInfo, u16 } from './helpers/spec-encoding.js';

const IK = SecretKey.copyFrom(randomBytes(32));
const REF: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-mail-01', keyVersion: 1 };
const CTX: EncryptionContext = { mailbox: 'alice@contoso.example', object: 'item-0001' };

function open(ik: SecretKey, envelope: Uint8Array, context: EncryptionContext): Buffer {
  const parsed = parseEnvelope(envelope);
  const kek = deriveWrappingKey(ik, parsed);
  try {
    return openBlock(parsed, kek, context);
  } finally {
    kek.destroy();
  }
}

function seal(plaintext: Uint8Array, context: EncryptionContext = CTX, ref: EnvelopeRef = REF): Buffer {
  const kek = deriveWrappingKey(IK, ref);
  try {
    return sealBlock({ ref, kek, plaintext, context });
  } finally {
    kek.destroy();
  }
}

function assertDecryptionFailed(t: ExecutionContext, fn: () => unknown): void {
  const err = t.throws(fn, { instanceOf: UnwrapdError });
  t.is(err?.code, 'decryption_failed');
  t.is(err?.message, DECRYPTION_FAILED_MESSAGE);
}

function assertInvalidArgument(t: ExecutionContext, fn: () => unknown, message: RegExp): void {
  const err = t.throws(fn, { instanceOf: UnwrapdError });
  t.is(err?.code, 'invalid_argument');
  t.regex(err?.message ?? '', message);
}

// ---- round trips -----------------------------------------------------------------------------------------

for (const [label, size] of [
  ['0 B', 0],
  ['1 B', 1],
  ['4 KiB', 4096],
  ['1 MiB', 1 << 20],
] as const) {
  test(`round trip: ${label} plaintext seals and opens to the same bytes`, (t) => {
    const pt = randomBytes(size);
    const env = seal(pt);
    t.is(env.length, pt.length + 50 + REF.tenant.length + 47 + REF.policyId.length + 16);
    t.true(env.length <= pt.length + MAX_ENVELOPE_OVERHEAD);
    t.true(env.length >= pt.length + MIN_ENVELOPE_OVERHEAD);
    // Compared as bytes: ava's deepEqual of a 1 MiB Buffer takes seconds, and its diff would not be read.
    const opened = open(IK, env, CTX);
    t.is(opened.length, pt.length);
    t.true(opened.equals(pt), 'the same bytes');
  });
}

test('round trip: two seals of the same plaintext differ (fresh data key and nonce per block)', (t) => {
  const pt = Buffer.from('same');
  const a = seal(pt);
  const b = seal(pt);
  t.notDeepEqual(a, b);
  t.notDeepEqual(parseEnvelope(a).nonce, parseEnvelope(b).nonce);
  t.notDeepEqual(parseEnvelope(a).wrappedKey, parseEnvelope(b).wrappedKey);
});

test('round trip: accepts a Uint8Array view (not a Buffer) at an offset', (t) => {
  const pt = randomBytes(100);
  const env = seal(pt);
  const backing = new Uint8Array(env.length + 7);
  backing.set(env, 5);
  t.deepEqual(open(IK, backing.subarray(5, 5 + env.length), CTX), pt);
});

test('MAX_ENVELOPE_OVERHEAD is the overhead with 64-character tenant and policy ids', (t) => {
  t.is(MAX_ENVELOPE_OVERHEAD, 241);
  t.is(MIN_ENVELOPE_OVERHEAD, 115);
  const ref = { tenant: 'a'.repeat(64), policyId: 'b'.repeat(64), keyVersion: 0xffff_ffff };
  const env = seal(Buffer.alloc(3), {}, ref);
  t.is(env.length, 3 + MAX_ENVELOPE_OVERHEAD);
  t.deepEqual(open(IK, env, {}), Buffer.alloc(3));
  const small = seal(Buffer.alloc(0), {}, { tenant: 'a', policyId: 'b', keyVersion: 1 });
  t.is(small.length, MIN_ENVELOPE_OVERHEAD);
});

test('parseEnvelope exposes the reference and views of every field', (t) => {
  const pt = randomBytes(40);
  const env = seal(pt, CTX, { tenant: 'fabrikam.eu', policyId: 'dep_files-7', keyVersion: 4242 });
  const p = parseEnvelope(env);
  t.is(p.tenant, 'fabrikam.eu');
  t.is(p.policyId, 'dep_files-7');
  t.is(p.keyVersion, 4242);
  t.is(p.fixedHeader.length, 50 + 11);
  t.is(p.nonce.length, 12);
  t.is(p.commitment.length, 32);
  t.is(p.wrapSection.length, 47 + 11);
  t.is(p.wrappedKey.length, 40);
  t.is(p.body.length, 40 + 16);
  t.is(p.ciphertext.length, 40);
  t.is(p.tag.length, 16);
  t.is(p.bytes.buffer, env.buffer, 'views, not copies');
});

// ---- context ---------------------------------------------------------------------------------------------

test('context: entry order does not matter', (t) => {
  const pt = randomBytes(64);
  const env = seal(pt, { a: '1', b: '2', c: '3' });
  t.deepEqual(open(IK, env, { c: '3', a: '1', b: '2' }), pt);
  t.deepEqual(open(IK, env, { b: '2', c: '3', a: '1' }), pt);
});

test('context: a wrong, missing, extra or empty context fails to open', (t) => {
  const env = seal(randomBytes(64), CTX);
  assertDecryptionFailed(t, () => open(IK, env, { ...CTX, object: 'item-0002' }));
  assertDecryptionFailed(t, () => open(IK, env, { mailbox: CTX.mailbox as string }));
  assertDecryptionFailed(t, () => open(IK, env, { ...CTX, extra: '' }));
  assertDecryptionFailed(t, () => open(IK, env, {}));
  assertDecryptionFailed(t, () => open(IK, env, { mailbox: CTX.object as string, object: CTX.mailbox as string }));
  const envNoCtx = seal(randomBytes(8), {});
  assertDecryptionFailed(t, () => open(IK, envNoCtx, { a: '' }));
});

test('context: an invalid context on open is invalidArgument (the request is wrong, not the envelope)', (t) => {
  const env = seal(randomBytes(8), {});
  assertInvalidArgument(t, () => open(IK, env, { '': 'x' }), /key #1 is 0 bytes/);
});

// ---- vectors ---------------------------------------------------------------------------------------------

type PositiveVector = BlockPositiveVector;
const vectors = JSON.parse(readFileSync(new URL('./vectors/envelope-v1.json', import.meta.url), 'utf8')) as {
  positive: PositiveVector[];
  negative: NegativeVector[];
};
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

test('vectors: the file has 0-, 1- and 100-byte plaintexts, with and without context, and negatives', (t) => {
  const sizes = new Set(vectors.positive.map((v) => v.plaintext.length / 2));
  t.true(sizes.has(0) && sizes.has(1) && sizes.has(100));
  t.true(vectors.positive.some((v) => Object.keys(v.context).length === 0));
  t.true(vectors.positive.some((v) => Object.keys(v.context).length > 1));
  t.true(vectors.negative.length >= 10);
});

for (const v of vectors.positive) {
  test(`vectors: seal with the fixed randomness gives the exact envelope (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    const ref = { tenant: v.tenant, policyId: v.policyId, keyVersion: v.keyVersion };
    const kek = deriveWrappingKey(ik, ref);
    const calls: number[] = [];
    const queue = [hex(v.dataKey), hex(v.nonce)];
    const env = sealBlock({
      ref,
      kek,
      plaintext: hex(v.plaintext),
      context: v.context,
      suite: 1, // this file holds suite 1's vectors (suite 2: test/envelope-suite2.test.ts)
      random: (n) => {
        calls.push(n);
        return queue.shift() as Buffer;
      },
    });
    t.deepEqual(calls, [32, 12], 'randomness is drawn as data key (32) then nonce (12)');
    t.is(env.toString('hex'), v.envelope);
  });

  test(`vectors: open gives the plaintext (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    t.is(open(ik, hex(v.envelope), v.context).toString('hex'), v.plaintext);
  });

  // An independent implementation of docs/envelope-format.md with raw node:crypto (no project code), to prove
  // the vectors follow the published algorithm and not just whatever the code does.
  test(`vectors: an independent implementation of the spec reproduces the envelope (${v.name})`, (t) => {
    const ik = hex(v.intermediateKey);
    const tenant = Buffer.from(v.tenant, 'ascii');
    const policy = Buffer.from(v.policyId, 'ascii');
    const version = Buffer.alloc(4);
    version.writeUInt32BE(v.keyVersion);
    const info = specKekInfo(v.tenant, v.policyId, v.keyVersion);
    t.is(info.toString('hex'), v.derived.kekInfo);
    const kek = Buffer.from(hkdfSync('sha256', ik, Buffer.alloc(0), info, 32));
    t.is(kek.toString('hex'), v.derived.kek);
    const dk = hex(v.dataKey);
    const nonce = hex(v.nonce);
    const kw = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const wrapped = Buffer.concat([kw.update(dk), kw.final()]);
    t.is(wrapped.toString('hex'), v.derived.wrappedDataKey);
    const okm = Buffer.from(hkdfSync('sha256', dk, nonce, Buffer.from('unwrapd/v1 block keys'), 64));
    const contentKey = okm.subarray(0, 32);
    const commitment = okm.subarray(32);
    t.is(contentKey.toString('hex'), v.derived.contentKey);
    t.is(commitment.toString('hex'), v.derived.commitment);

    // Canonical context: sort by UTF-8 key bytes.
    const ctx = specContext(v.context);
    t.is(ctx.toString('hex'), v.derived.encodedContext);

    const fixedHeader = Buffer.concat([
      Buffer.from([0x55, 0x57, 0x01, 0x01, 0x00, tenant.length]),
      tenant,
      nonce,
      commitment,
    ]);
    const wrapSection = Buffer.concat([Buffer.from([policy.length]), policy, version, u16(40), wrapped]);
    const aad = Buffer.concat([fixedHeader, ctx]);
    t.is(aad.toString('hex'), v.derived.aad);
    const gcm = createCipheriv('aes-256-gcm', contentKey, nonce);
    gcm.setAAD(aad);
    const ct = Buffer.concat([gcm.update(hex(v.plaintext)), gcm.final()]);
    const envelope = Buffer.concat([fixedHeader, wrapSection, ct, gcm.getAuthTag()]);
    t.is(envelope.toString('hex'), v.envelope);
  });
}

for (const v of vectors.negative) {
  test(`vectors: negative vector fails to open (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    t.truthy(v.tenant, 'every negative vector names the tenant it is opened for');
    assertDecryptionFailed(t, () => {
      const parsed = parseEnvelopeFor(v.tenant!, hex(v.envelope));
      const kek = deriveWrappingKey(ik, parsed);
      try {
        return openBlock(parsed, kek, v.context);
      } finally {
        kek.destroy();
      }
    });
  });
}

/**
 * A literal reading of §3.7 with raw node:crypto, each check optional: what an implementation that skipped
 * one would do. Returns the plaintext, or the first check that refused.
 */
function literalOpen(
  v: NegativeVector,
  checks: { tenant: boolean; dataKeyLength: boolean },
): { plaintext: Buffer } | { fail: string } {
  const env = hex(v.envelope);
  const t = env[5] as number;
  const tenant = env.subarray(6, 6 + t);
  const F = 50 + t;
  const p = env[F] as number;
  const policy = env.subarray(F + 1, F + 1 + p);
  if (checks.tenant && tenant.toString('latin1') !== v.tenant) return { fail: 'tenant' };
  const info = Buffer.concat([Buffer.from('unwrapd/v1 kek'), Buffer.from([t]), tenant, Buffer.from([p]), policy]);
  const kek = Buffer.from(
    hkdfSync(
      'sha256',
      hex(v.intermediateKey),
      Buffer.alloc(0),
      Buffer.concat([info, env.subarray(F + 1 + p, F + 5 + p)]),
      32,
    ),
  );
  const kw = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
  const dk = Buffer.concat([kw.update(env.subarray(F + 7 + p, F + 47 + p)), kw.final()]);
  if (checks.dataKeyLength && dk.length !== 32) return { fail: 'data key length' };
  const nonce = env.subarray(6 + t, 18 + t);
  const okm = Buffer.from(hkdfSync('sha256', dk, nonce, Buffer.from('unwrapd/v1 block keys'), 64));
  if (!okm.subarray(32).equals(env.subarray(18 + t, F))) return { fail: 'commitment' };
  const ctx = specContext(v.context);
  const gcm = createDecipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
  gcm.setAAD(Buffer.concat([env.subarray(0, F), ctx]));
  gcm.setAuthTag(env.subarray(env.length - 16));
  const plaintext = Buffer.concat([gcm.update(env.subarray(F + 47 + p, env.length - 16)), gcm.final()]);
  return { plaintext };
}

test('vectors: the short data keys and the wrong tenant are refused only by their own check, which a literal implementation must make', (t) => {
  const lengths = vectors.negative.filter((v) => v.rejectedBy === 'data key length');
  const tenants = vectors.negative.filter((v) => v.rejectedBy === 'tenant');
  t.deepEqual(
    lengths.map((v) => /data key of (\d+) bytes/.exec(v.name)?.[1]),
    ['25', '31'],
  );
  t.is(tenants.length, 1);
  for (const v of [...lengths, ...tenants]) {
    t.deepEqual(literalOpen(v, { tenant: true, dataKeyLength: true }), { fail: v.rejectedBy }, v.name);
    // Without that one check, the envelope opens: its wrap, commitment and tag are all valid.
    const lax = literalOpen(v, {
      tenant: v.rejectedBy !== 'tenant',
      dataKeyLength: v.rejectedBy !== 'data key length',
    });
    t.true('plaintext' in lax, `${v.name}: a reader without the check would open it`);
  }
});

// ---- rewrap ----------------------------------------------------------------------------------------------

test('rewrap: moves an envelope to another policy and version without touching header or body', (t) => {
  const pt = randomBytes(300);
  const env = seal(pt, CTX, REF);
  const parsed = parseEnvelope(env);
  const to = { tenant: REF.tenant, policyId: 'dep-mail-02', keyVersion: 9 };
  const fromKek = deriveWrappingKey(IK, parsed);
  const toKek = deriveWrappingKey(IK, to);
  const moved = rewrapEnvelope(parsed, fromKek, { ref: to, kek: toKek });
  const p2 = parseEnvelope(moved);
  t.is(p2.policyId, 'dep-mail-02');
  t.is(p2.keyVersion, 9);
  t.deepEqual(p2.fixedHeader, parsed.fixedHeader);
  t.deepEqual(p2.body, parsed.body);
  t.notDeepEqual(p2.wrappedKey, parsed.wrappedKey);
  t.deepEqual(openBlock(p2, toKek, CTX), pt);
  assertDecryptionFailed(t, () => openBlock(p2, fromKek, CTX));
  // and the original still opens
  t.deepEqual(openBlock(parsed, fromKek, CTX), pt);
});

test('rewrap: with another intermediate key (new key version under a rotated intermediate key)', (t) => {
  const pt = randomBytes(10);
  const env = seal(pt, {}, REF);
  const ik2 = SecretKey.copyFrom(randomBytes(32));
  const to = { ...REF, keyVersion: 2 };
  const parsed = parseEnvelope(env);
  const moved = rewrapEnvelope(parsed, deriveWrappingKey(IK, parsed), { ref: to, kek: deriveWrappingKey(ik2, to) });
  t.deepEqual(open(ik2, moved, {}), pt);
  assertDecryptionFailed(t, () => open(IK, moved, {}));
});

test('rewrap: another tenant is invalidArgument', (t) => {
  const parsed = parseEnvelope(seal(randomBytes(10)));
  const to = { tenant: 'fabrikam', policyId: REF.policyId, keyVersion: 1 };
  assertInvalidArgument(
    t,
    () => rewrapEnvelope(parsed, deriveWrappingKey(IK, parsed), { ref: to, kek: deriveWrappingKey(IK, to) }),
    /another tenant/,
  );
});

test('rewrap: an invalid target reference is invalidArgument', (t) => {
  const parsed = parseEnvelope(seal(randomBytes(10)));
  const kek = deriveWrappingKey(IK, parsed);
  assertInvalidArgument(t, () => rewrapEnvelope(parsed, kek, { ref: { ...REF, keyVersion: 0 }, kek }), /key version/);
  assertInvalidArgument(t, () => rewrapEnvelope(parsed, kek, { ref: { ...REF, policyId: 'a/b' }, kek }), /policy id/);
});

test('rewrap: the wrong source KEK or a forged commitment is decryptionFailed', (t) => {
  const env = seal(randomBytes(10));
  const parsed = parseEnvelope(env);
  const to = { ...REF, keyVersion: 2 };
  const toKek = deriveWrappingKey(IK, to);
  const otherKek = deriveWrappingKey(IK, { ...REF, policyId: 'dep-other' });
  assertDecryptionFailed(t, () => rewrapEnvelope(parsed, otherKek, { ref: to, kek: toKek }));
  const forged = Buffer.from(env);
  forged[parsed.fixedHeader.length - 1] = (forged[parsed.fixedHeader.length - 1] as number) ^ 1;
  const pf = parseEnvelope(forged);
  assertDecryptionFailed(t, () => rewrapEnvelope(pf, deriveWrappingKey(IK, pf), { ref: to, kek: toKek }));
});

// ---- validation ------------------------------------------------------------------------------------------

test('seal: invalid tenant, policy id or key version is invalidArgument naming the field', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  const s = (ref: EnvelopeRef) => () => sealBlock({ ref, kek, plaintext: Buffer.alloc(1), context: {} });
  for (const tenant of ['', '-lead', '.x', 'a b', 'a/b', 'é', 'x'.repeat(65), 'ok\n']) {
    assertInvalidArgument(t, s({ ...REF, tenant }), /tenant must match/);
  }
  for (const policyId of ['', '_x', 'x'.repeat(65), 'a:b']) {
    assertInvalidArgument(t, s({ ...REF, policyId }), /policy id must match/);
  }
  for (const keyVersion of [0, -1, 1.5, 2 ** 32, Number.NaN, Infinity]) {
    assertInvalidArgument(t, s({ ...REF, keyVersion }), /key version must be an integer in 1\.\.4294967295/);
  }
  t.notThrows(s({ tenant: 'A', policyId: '0', keyVersion: 2 ** 32 - 1 }));
  t.notThrows(s({ tenant: 'a.b_c-d', policyId: 'x'.repeat(64), keyVersion: 1 }));
});

test('seal: an invalid context is invalidArgument', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  assertInvalidArgument(
    t,
    () => sealBlock({ ref: REF, kek, plaintext: Buffer.alloc(1), context: { k: 'v'.repeat(1025) } }),
    /value #1 is 1025 bytes/,
  );
});

test('deriveWrappingKey: invalid reference is invalidArgument; distinct per tenant, policy and version', (t) => {
  assertInvalidArgument(t, () => deriveWrappingKey(IK, { ...REF, tenant: '' }), /tenant/);
  const k = (ref: EnvelopeRef) => deriveWrappingKey(IK, ref).expose().toString('hex');
  const all = new Set([
    k(REF),
    k({ ...REF, tenant: 'contoso2' }),
    k({ ...REF, policyId: 'dep-mail-02' }),
    k({ ...REF, keyVersion: 2 }),
    // length prefixes keep ("ab","c") and ("a","bc") apart
    k({ tenant: 'ab', policyId: 'c', keyVersion: 1 }),
    k({ tenant: 'a', policyId: 'bc', keyVersion: 1 }),
  ]);
  t.is(all.size, 6);
  t.is(k(REF), k({ ...REF }), 'deterministic');
  t.is(deriveWrappingKey(IK, REF).length, 32);
});

test('seal: the data key drawn from the random source is zeroed after use', (t) => {
  const dk = randomBytes(32);
  const nonce = randomBytes(12);
  const queue = [dk, nonce];
  const kek = deriveWrappingKey(IK, REF);
  const env = sealBlock({
    ref: REF,
    kek,
    plaintext: Buffer.from('x'),
    context: {},
    random: () => queue.shift() as Buffer,
  });
  t.true(dk.every((b) => b === 0));
  t.deepEqual(parseEnvelope(env).nonce, nonce);
});

test('seal: a random source returning the wrong length is rejected', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  t.throws(
    () => sealBlock({ ref: REF, kek, plaintext: Buffer.alloc(1), context: {}, random: (n) => randomBytes(n - 1) }),
    {
      instanceOf: UnwrapdError,
    },
  );
});

test('seal and open refuse a destroyed key (evicted mid-request) instead of using zeros', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  const env = sealBlock({ ref: REF, kek, plaintext: Buffer.alloc(1), context: {} });
  kek.destroy();
  t.throws(() => sealBlock({ ref: REF, kek, plaintext: Buffer.alloc(1), context: {} }), { message: /after destroy/ });
  t.throws(() => openBlock(parseEnvelope(env), kek, {}), { message: /after destroy/ });
});

// ---- secrets never print ---------------------------------------------------------------------------------

test('SecretKey never prints: String, template, JSON.stringify and util.inspect show a placeholder', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  const keyHex = kek.expose().toString('hex');
  const renderings = [
    String(kek),
    `${kek}`,
    JSON.stringify(kek),
    JSON.stringify({ kek }),
    inspect(kek),
    inspect({ nested: { kek } }, { depth: 10 }),
    inspect(kek, { showHidden: true }),
  ];
  for (const r of renderings) {
    t.regex(r, /\[SecretKey redacted\]/);
    t.false(r.includes(keyHex));
    t.false(r.includes(keyHex.slice(0, 8)));
  }
});

test('errors carry no key material, plaintext or ciphertext', (t) => {
  const pt = Buffer.from('top secret plaintext');
  const env = seal(pt);
  const tampered = Buffer.from(env);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
  const err = t.throws(() => open(IK, tampered, CTX), { instanceOf: UnwrapdError });
  const rendered = inspect(err, { depth: 10 }) + String(err) + JSON.stringify(err);
  t.false(rendered.includes(pt.toString('hex')));
  t.false(rendered.includes('top secret'));
  t.false(rendered.includes(env.subarray(-16).toString('hex')));
  t.is(err?.cause, undefined);
});

test('the random pool gives every block fresh bytes, across refills', async (t) => {
  const { fillRandom } = await import('../src/crypto/random-pool.js');
  const seen = new Set<string>();
  for (let i = 0; i < 2_000; i++) {
    const b = fillRandom(Buffer.alloc(44));
    t.false(b.every((x) => x === 0));
    seen.add(b.toString('hex'));
  }
  t.is(seen.size, 2_000, 'no 44-byte draw repeats (the pool refills past its end)');
});
