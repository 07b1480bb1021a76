/**
 * Segmented format v2 (docs/envelope-format.md §8): the published vectors both ways, an independent
 * implementation of the spec with raw node:crypto (seal, and a reader that reports which check refuses each
 * negative vector), the reader's segment-size cap and its lazy buffers, and v1 envelopes still read.
 */
import test, { type ExecutionContext } from 'ava';
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import type { EncryptionContext } from '../src/crypto/encryption-context.js';
import { deriveWrappingKey, type EnvelopeRef } from '../src/crypto/envelope.js';
import { envelopeKind, parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { openSegmented, sealSegmented, SegmentOpener } from '../src/crypto/segmented.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { buildVectors } from '../scripts/gen-segmented-v2-vectors.js';
import type { NegativeVector, SegmentedPositiveVector, SegmentedV2PositiveVector } from '../scripts/vector-types.js';

const vectorsText = readFileSync(new URL('./vectors/envelope-segmented-v2.json', import.meta.url), 'utf8');
const vectors = JSON.parse(vectorsText) as { positive: SegmentedV2PositiveVector[]; negative: NegativeVector[] };
const v1 = JSON.parse(readFileSync(new URL('./vectors/envelope-segmented-v1.json', import.meta.url), 'utf8')) as {
  positive: SegmentedPositiveVector[];
};
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const kekFor = (ik: SecretKey) => (ref: EnvelopeRef) => deriveWrappingKey(ik, ref);

function assertDecryptionFailed(t: ExecutionContext, fn: () => unknown, message?: string): void {
  const err = t.throws(fn, { instanceOf: UnwrapdError }, message);
  t.is(err?.code, 'decryption_failed', message);
  t.is(err?.message, DECRYPTION_FAILED_MESSAGE, message);
}

/** Opens through the streaming API in pieces of the given sizes (cycled); kekCalls counts key look-ups. */
function openStreaming(
  envelope: Buffer,
  pieces: number[],
  context: EncryptionContext,
  ik: SecretKey,
  maxSegmentBytes?: number,
) {
  const opener = new SegmentOpener({ context, maxSegmentBytes });
  const out: Buffer[] = [];
  let off = 0;
  let unlocked = false;
  try {
    for (let i = 0; off < envelope.length; i++) {
      let chunk = envelope.subarray(off, off + Math.max(1, pieces[i % pieces.length] as number));
      off += chunk.length;
      if (!unlocked) {
        const read = opener.readHeader(chunk);
        if (!read) continue;
        opener.unlock(deriveWrappingKey(ik, read.header));
        unlocked = true;
        chunk = read.rest;
      }
      for (const pt of opener.push(chunk)) out.push(pt);
    }
    out.push(opener.final());
    return Buffer.concat(out);
  } finally {
    opener.destroy();
  }
}

// ---- an independent implementation of §8 (v2) with raw node:crypto ------------------------------------

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const hkdf = (ikm: Buffer, salt: Buffer, info: Buffer, n: number) =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, n));

function spec(ik: Buffer, tenant: string, policy: string, version: number) {
  const info = Buffer.concat([
    Buffer.from('unwrapd/v1 kek'),
    Buffer.from([tenant.length]),
    Buffer.from(tenant),
    Buffer.from([policy.length]),
    Buffer.from(policy),
    u32(version),
  ]);
  return hkdf(ik, Buffer.alloc(0), info, 32);
}

function encodeCtx(context: EncryptionContext): Buffer {
  const entries = Object.entries(context)
    .map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const)
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  return Buffer.concat([u16(entries.length), ...entries.flatMap(([k, v]) => [u16(k.length), k, u16(v.length), v])]);
}

function iv(nonce: Buffer, i: number, last: boolean): Buffer {
  const out = Buffer.from(nonce);
  const ctr = u32(i);
  for (let j = 0; j < 4; j++) out[7 + j] = (out[7 + j] as number) ^ (ctr[j] as number);
  out[11] = (out[11] as number) ^ (last ? 1 : 0);
  return out;
}

/** The stages of §8.2 "Open", in order; returns the first that refuses, or the plaintext. */
function specOpen(
  env: Buffer,
  ikHex: string,
  context: EncryptionContext,
  tenant?: string,
): { fail: string } | { plaintext: Buffer } {
  // parse (v2 only: this is the v2 reader)
  if (env.length < 6 || env[0] !== 0x55 || env[1] !== 0x57 || env[2] !== 2 || env[3] !== 1 || env[4] !== 1)
    return { fail: 'parse' };
  const t = env[5] as number;
  const idOk = (b: Buffer) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(b.toString('latin1'));
  if (t < 1 || t > 64 || env.length < 6 + t + 4 || !idOk(env.subarray(6, 6 + t))) return { fail: 'parse' };
  const S = env.readUInt32BE(6 + t);
  const tenantOk = tenant === undefined || env.toString('latin1', 6, 6 + t) === tenant;
  if (S < 1024 || S > 4 * 1024 * 1024) return { fail: 'parse' };
  const F = 54 + t;
  if (env.length < F + 1) return { fail: 'parse' };
  const p = env[F] as number;
  const H = F + 47 + p + 32;
  if (p < 1 || p > 64 || env.length < H || !idOk(env.subarray(F + 1, F + 1 + p))) return { fail: 'parse' };
  const keyVersion = env.readUInt32BE(F + 1 + p);
  if (keyVersion < 1 || env.readUInt16BE(F + 5 + p) !== 40) return { fail: 'parse' };
  const nonce = env.subarray(10 + t, 22 + t);
  if (!tenantOk) return { fail: 'tenant' };
  // unwrap
  const kek = spec(hex(ikHex), env.toString('latin1', 6, 6 + t), env.toString('latin1', F + 1, F + 1 + p), keyVersion);
  let dk: Buffer;
  try {
    const d = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    dk = Buffer.concat([d.update(env.subarray(F + 7 + p, F + 47 + p)), d.final()]);
    if (dk.length !== 32) return { fail: 'data key length' };
  } catch {
    return { fail: 'unwrap' };
  }
  // commitment, then header tag
  const okm = hkdf(dk, nonce, Buffer.concat([Buffer.from('unwrapd/v2 segment keys'), env.subarray(0, F - 32)]), 96);
  if (!okm.subarray(32, 64).equals(env.subarray(F - 32, F))) return { fail: 'commitment' };
  if (
    !createHmac('sha256', okm.subarray(64))
      .update(env.subarray(0, H - 32))
      .digest()
      .equals(env.subarray(H - 32, H))
  )
    return { fail: 'header tag' };
  // segments
  const aad = Buffer.concat([env.subarray(0, F), encodeCtx(context)]);
  const out: Buffer[] = [];
  const open = (i: number, last: boolean, seg: Buffer): boolean => {
    const d = createDecipheriv('aes-256-gcm', okm.subarray(0, 32), iv(nonce, i, last));
    d.setAAD(aad);
    d.setAuthTag(seg.subarray(seg.length - 16));
    const pt = d.update(seg.subarray(0, seg.length - 16));
    try {
      d.final();
      out.push(pt);
      return true;
    } catch {
      return false;
    }
  };
  let off = H;
  let i = 0;
  for (; env.length - off >= S + 16; off += S + 16, i++)
    if (!open(i, false, env.subarray(off, off + S + 16))) return { fail: 'tag' };
  if (env.length - off < 16) return { fail: 'missing final segment' };
  return open(i, true, env.subarray(off)) ? { plaintext: Buffer.concat(out) } : { fail: 'tag' };
}

function specSeal(v: SegmentedV2PositiveVector): Buffer {
  const kek = spec(hex(v.intermediateKey), v.tenant, v.policyId, v.keyVersion);
  const dk = hex(v.dataKey);
  const nonce = hex(v.nonce);
  const kw = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
  const wrapped = Buffer.concat([kw.update(dk), kw.final()]);
  const prefix = Buffer.concat([
    Buffer.from([0x55, 0x57, 0x02, 0x01, 0x01, v.tenant.length]),
    Buffer.from(v.tenant),
    u32(v.segmentSize),
    nonce,
  ]);
  const okm = hkdf(dk, nonce, Buffer.concat([Buffer.from('unwrapd/v2 segment keys'), prefix]), 96);
  const fixed = Buffer.concat([prefix, okm.subarray(32, 64)]);
  const wrap = Buffer.concat([
    Buffer.from([v.policyId.length]),
    Buffer.from(v.policyId),
    u32(v.keyVersion),
    u16(40),
    wrapped,
  ]);
  const tag = createHmac('sha256', okm.subarray(64))
    .update(Buffer.concat([fixed, wrap]))
    .digest();
  const aad = Buffer.concat([fixed, encodeCtx(v.context)]);
  const pt = hex(v.plaintext);
  const parts = [fixed, wrap, tag];
  const n = Math.floor(pt.length / v.segmentSize) + 1;
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const gcm = createCipheriv('aes-256-gcm', okm.subarray(0, 32), iv(nonce, i, last));
    gcm.setAAD(aad);
    parts.push(
      gcm.update(pt.subarray(i * v.segmentSize, last ? pt.length : (i + 1) * v.segmentSize)),
      gcm.final(),
      gcm.getAuthTag(),
    );
  }
  return Buffer.concat(parts);
}

// ---- the vectors -----------------------------------------------------------------------------------------

test('segmented v2 vectors: the generator reproduces the checked-in file byte for byte', (t) => {
  const text = JSON.stringify(buildVectors(), null, 2) + '\n';
  t.is(
    createHash('sha256').update(text).digest('hex'),
    createHash('sha256').update(vectorsText).digest('hex'),
    'run: node --import=tsx scripts/gen-segmented-v2-vectors.ts',
  );
});

test('segmented v2: envelopeKind knows v2 only in the segmented form; a v1-only reader refuses v2 at its version byte', (t) => {
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 2, 1, 1])), 'segmented');
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 2, 1, 0])), 'unknown', 'there is no v2 single block');
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 3, 1, 1])), 'unknown');
  assertDecryptionFailed(t, () => parseSegmentedHeader(Buffer.from([0x55, 0x57, 2, 1, 0])));
});

test('segmented v2 vectors: every kind of positive and negative case is there', (t) => {
  const sizes = new Set(vectors.positive.map((v) => v.plaintext.length / 2));
  for (const s of [0, 1, 1023, 1024, 1025, 2500, 4097]) t.true(sizes.has(s), `${s} B`);
  t.true(vectors.positive.some((v) => v.segmentSize === 4 * 1024 * 1024));
  const names = vectors.negative.map((v) => v.name).join('\n');
  for (const word of [
    'segment size',
    'tenant edited',
    'flags',
    'version',
    'truncated',
    'header tag',
    'wrap section',
    'reordered',
    'dropped',
    'appended',
  ])
    t.regex(names, new RegExp(word));
  const stages = new Set(vectors.negative.map((v) => v.rejectedBy));
  for (const s of [
    'parse',
    'tenant',
    'unwrap',
    'data key length',
    'commitment',
    'header tag',
    'tag',
    'missing final segment',
  ])
    t.true(stages.has(s), s);
});

for (const v of vectors.positive) {
  test(`segmented v2 vectors: seal, open and the independent implementation agree (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    const ref = { tenant: v.tenant, policyId: v.policyId, keyVersion: v.keyVersion };
    const queue = [hex(v.dataKey), hex(v.nonce)];
    const env = sealSegmented({
      ref,
      kek: deriveWrappingKey(ik, ref),
      context: v.context,
      segmentSize: v.segmentSize,
      plaintext: hex(v.plaintext),
      random: () => queue.shift() as Buffer,
    });
    t.is(env.toString('hex'), v.envelope, 'the library seals the exact envelope');
    t.is(specSeal(v).toString('hex'), v.envelope, 'so does the independent implementation');
    t.is(envelopeKind(env), 'segmented');
    t.is(parseSegmentedHeader(env)?.version, 2);
    t.is(openSegmented(env, kekFor(ik), v.context).toString('hex'), v.plaintext);
    t.is(openStreaming(env, [1, 13, 400], v.context, ik).toString('hex'), v.plaintext);
    const r = specOpen(env, v.intermediateKey, v.context);
    t.true('plaintext' in r && r.plaintext.toString('hex') === v.plaintext, 'the independent reader opens it');
  });
}

for (const v of vectors.negative) {
  test(`segmented v2 vectors: negative vector refused, by the stated check (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    const env = hex(v.envelope);
    if (v.rejectedBy === 'tenant') {
      // The crypto opens it (it is genuine): the reader's caller-tenant check refuses it (the daemon's stream
      // service; test/envelope-contract.test.ts).
      t.not(parseSegmentedHeader(env)?.tenant, v.tenant);
    } else {
      assertDecryptionFailed(t, () => openSegmented(env, kekFor(ik), v.context), 'whole buffer');
      assertDecryptionFailed(t, () => openStreaming(env, [5, 700], v.context, ik), 'streaming');
    }
    t.deepEqual(
      specOpen(env, v.intermediateKey, v.context, v.tenant),
      { fail: v.rejectedBy },
      'the independent reader refuses it at the same check',
    );
  });
}

test('segmented v2: a header refused by parse, unwrap, commitment or header tag releases nothing and allocates no segment buffer', (t) => {
  for (const v of vectors.negative.filter((n) =>
    ['unwrap', 'data key length', 'commitment', 'header tag'].includes(n.rejectedBy),
  )) {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    const opener = new SegmentOpener({ context: v.context });
    const read = opener.readHeader(hex(v.envelope));
    t.truthy(read, v.name);
    assertDecryptionFailed(t, () => opener.unlock(deriveWrappingKey(ik, read!.header)), v.name);
    t.throws(
      () => [...opener.push(read!.rest)],
      { message: /before unlock/ },
      'no segment is read from an unauthenticated header',
    );
    t.is(opener.allocatedBytes, 0, v.name);
    opener.destroy();
  }
});

// ---- the reader's cap and lazy buffers ---------------------------------------------------------------------

const big = vectors.positive.find((v) => v.segmentSize === 4 * 1024 * 1024)!;

test('segmented cap: a header announcing more than the reader\u2019s maximum is refused as soon as its size field is in, before any key', (t) => {
  const ik = SecretKey.copyFrom(hex(big.intermediateKey));
  t.is(
    openSegmented(hex(big.envelope), kekFor(ik), big.context).toString('hex'),
    big.plaintext,
    'the default cap (the format maximum) reads it',
  );
  let kekCalls = 0;
  const err = t.throws(
    () =>
      openSegmented(hex(big.envelope), (ref) => (kekCalls++, deriveWrappingKey(ik, ref)), big.context, {
        maxSegmentBytes: 1024 * 1024,
      }),
    { instanceOf: UnwrapdError },
  );
  t.is(err?.code, 'invalid_argument');
  t.regex(err?.message ?? '', /segment size is larger than this reader's maximum of 1048576 bytes/);
  t.is(kekCalls, 0, 'refused before any key is looked up');
  // Streaming: refused with the 4 size bytes (offset 6 + t), not after the whole header.
  const opener = new SegmentOpener({ context: {}, maxSegmentBytes: 64 * 1024 });
  const env = hex(big.envelope);
  const sizeEnd = 6 + big.tenant.length + 4;
  t.is(opener.readHeader(env.subarray(0, sizeEnd - 1)), undefined);
  t.throws(() => opener.readHeader(env.subarray(sizeEnd - 1, sizeEnd)), {
    instanceOf: UnwrapdError,
    message: /maximum of 65536 bytes/,
  });
  t.is(opener.allocatedBytes, 0);
});

test('segmented cap: v1 envelopes still open, under the cap; over it they are refused the same way', (t) => {
  for (const v of v1.positive) {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    t.is(parseSegmentedHeader(hex(v.envelope))?.version, 1);
    t.is(
      openSegmented(hex(v.envelope), kekFor(ik), v.context, { maxSegmentBytes: 4096 }).toString('hex'),
      v.plaintext,
      v.name,
    );
    t.is(openStreaming(hex(v.envelope), [3, 1000], v.context, ik, 4096).toString('hex'), v.plaintext, v.name);
    if (v.segmentSize > 1024) {
      const err = t.throws(() => openSegmented(hex(v.envelope), kekFor(ik), v.context, { maxSegmentBytes: 1024 }), {
        instanceOf: UnwrapdError,
      });
      t.is(err?.code, 'invalid_argument');
    }
  }
});

test('segmented lazy buffers: a v1 header edited to 4 MiB segments allocates only what arrives, then fails', (t) => {
  // v1 cannot authenticate its segment size before the first tag: the reader must not trust it for memory.
  const v = v1.positive.find((p) => p.plaintext.length === 2 * 2500)!;
  const env = hex(v.envelope);
  const header = parseSegmentedHeader(env)!;
  const sizeAt = header.fixedHeader.length - 4;
  const edited = Buffer.from(env);
  edited.writeUInt32BE(4 * 1024 * 1024, sizeAt);
  const ik = SecretKey.copyFrom(hex(v.intermediateKey));
  const opener = new SegmentOpener({ context: v.context });
  const read = opener.readHeader(edited)!;
  t.is(read.header.segmentSize, 4 * 1024 * 1024);
  opener.unlock(deriveWrappingKey(ik, read.header)); // v1: the segment size is only in the AAD
  t.deepEqual([...opener.push(read.rest)], [], 'no segment is complete yet');
  t.true(
    opener.allocatedBytes <= 16 * 1024,
    `allocated ${opener.allocatedBytes} bytes for ${read.rest.length} received, not 4 MiB`,
  );
  assertDecryptionFailed(t, () => opener.final());
  opener.destroy();
  // The same edit on v2 is refused at unlock, before any segment byte is read.
  const v2env = hex(vectors.positive.find((p) => p.plaintext.length === 2 * 2500)!.envelope);
  const v2edited = Buffer.from(v2env);
  v2edited.writeUInt32BE(4 * 1024 * 1024, 6 + 64);
  const o2 = new SegmentOpener({ context: v.context });
  const r2 = o2.readHeader(v2edited)!;
  assertDecryptionFailed(t, () => o2.unlock(deriveWrappingKey(ik, r2.header)));
  t.is(o2.allocatedBytes, 0);
});

test('segmented lazy buffers: a segment in progress grows with the input and stays within one segment', (t) => {
  const v = vectors.positive.find((p) => p.segmentSize === 4096)!;
  const ik = SecretKey.copyFrom(hex(v.intermediateKey));
  const env = hex(v.envelope);
  const opener = new SegmentOpener({ context: v.context });
  const read = opener.readHeader(env)!;
  opener.unlock(deriveWrappingKey(ik, read.header));
  const out: Buffer[] = [];
  for (let off = 0; off < read.rest.length; off += 100) {
    for (const pt of opener.push(read.rest.subarray(off, off + 100))) out.push(pt);
    t.true(opener.allocatedBytes <= 4096 + 16);
  }
  out.push(opener.final());
  t.is(Buffer.concat(out).toString('hex'), v.plaintext);
  opener.destroy();
});

// ---- rewrap keeps the version and re-authenticates the header ------------------------------------------

test('segmented rewrap: v2 gets a fresh header tag over its new wrap section and opens under the target; v1 stays v1', async (t) => {
  const { rewrapSegmentedHeader } = await import('../src/crypto/segmented-rewrap.js');
  for (const v of [vectors.positive[4]!, v1.positive[4]!]) {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    const env = hex(v.envelope);
    const header = parseSegmentedHeader(env)!;
    const to = { tenant: v.tenant, policyId: 'moved-policy-with-a-longer-id', keyVersion: 9 };
    const out = rewrapSegmentedHeader(env, header, deriveWrappingKey(ik, header), {
      ref: to,
      kek: deriveWrappingKey(ik, to),
    });
    const moved = parseSegmentedHeader(out.envelope)!;
    t.is(moved.version, header.version);
    t.is(moved.policyId, to.policyId);
    t.deepEqual(moved.fixedHeader, header.fixedHeader, 'the fixed header (and so the segments) unchanged');
    t.is(out.replacedHeaderBytes, header.bytes.length);
    t.is(openSegmented(out.envelope, kekFor(ik), v.context).toString('hex'), v.plaintext);
    if (header.version === 2) {
      t.notDeepEqual(moved.headerTag, header.headerTag, 'a new header tag');
      const tampered = Buffer.from(env);
      tampered[header.bytes.length - 1] = (tampered[header.bytes.length - 1] as number) ^ 1;
      assertDecryptionFailed(
        t,
        () =>
          rewrapSegmentedHeader(tampered, parseSegmentedHeader(tampered)!, deriveWrappingKey(ik, header), {
            ref: to,
            kek: deriveWrappingKey(ik, to),
          }),
        'rewrap verifies the header tag first',
      );
    }
  }
});
