import test, { type ExecutionContext } from 'ava';
import { createCipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DECRYPTION_FAILED_MESSAGE, UnwrapdError } from '../src/errors.js';
import type { EncryptionContext } from '../src/crypto/encryption-context.js';
import { deriveWrappingKey, parseEnvelope, type EnvelopeRef } from '../src/crypto/envelope.js';
import {
  envelopeKind,
  MAX_SEGMENTED_HEADER_LENGTH,
  MIN_SEGMENTED_ENVELOPE_LENGTH,
  parseSegmentedHeader,
  segmentedEnvelopeLength,
} from '../src/crypto/segmented-format.js';
import { openSegmented, sealSegmented, SegmentOpener, SegmentSealer } from '../src/crypto/segmented.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { buildVectors } from '../scripts/gen-segmented-vectors.js';
import type { NegativeVector, SegmentedPositiveVector } from '../scripts/vector-types.js';
import { specContext, specKekInfo, u16 } from './helpers/spec-encoding.js';

const IK = SecretKey.copyFrom(randomBytes(32));
const REF: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 1 };
const CTX: EncryptionContext = { site: 'hr', object: 'doc-1' };
const SEG = 1024;

const kekFor = (ik: SecretKey) => (ref: EnvelopeRef) => deriveWrappingKey(ik, ref);

function seal(plaintext: Uint8Array, segmentSize = SEG, context: EncryptionContext = CTX): Buffer {
  const kek = deriveWrappingKey(IK, REF);
  try {
    return sealSegmented({ ref: REF, kek, context, segmentSize, plaintext });
  } finally {
    kek.destroy();
  }
}

/** Opens `envelope` through the streaming API, fed in pieces of the given sizes (cycled). */
function openStreaming(
  envelope: Buffer,
  pieces: number[],
  context: EncryptionContext = CTX,
  ik = IK,
): { plaintext: Buffer; maxBuffered: number } {
  const opener = new SegmentOpener({ context });
  const out: Buffer[] = [];
  let maxBuffered = 0;
  let off = 0;
  let unlocked = false;
  try {
    for (let i = 0; off < envelope.length; i++) {
      const n = Math.max(1, pieces[i % pieces.length] as number);
      let chunk = envelope.subarray(off, off + n);
      off += chunk.length;
      if (!unlocked) {
        const read = opener.readHeader(chunk);
        if (!read) continue;
        const kek = deriveWrappingKey(ik, read.header);
        opener.unlock(kek);
        kek.destroy();
        unlocked = true;
        chunk = read.rest;
      }
      for (const pt of opener.push(chunk)) out.push(pt);
      maxBuffered = Math.max(maxBuffered, opener.bufferedBytes);
    }
    out.push(opener.final());
    return { plaintext: Buffer.concat(out), maxBuffered };
  } finally {
    opener.destroy();
  }
}

function assertDecryptionFailed(t: ExecutionContext, fn: () => unknown, message?: string): void {
  const err = t.throws(fn, { instanceOf: UnwrapdError }, message);
  t.is(err?.code, 'decryption_failed', message);
  t.is(err?.message, DECRYPTION_FAILED_MESSAGE, message);
}

/** The header and segments of an envelope sealed with segment size SEG. */
function split(env: Buffer, plaintextLength: number): { header: Buffer; segments: Buffer[] } {
  const header = parseSegmentedHeader(env)!;
  const segments: Buffer[] = [];
  let off = header.bytes.length;
  const count = Math.floor(plaintextLength / SEG) + 1;
  for (let i = 0; i < count; i++) {
    const len = (i === count - 1 ? plaintextLength - i * SEG : SEG) + 16;
    segments.push(env.subarray(off, off + len));
    off += len;
  }
  return { header: Buffer.from(header.bytes), segments };
}

// ---- round trips at the boundaries --------------------------------------------------------------------

for (const [label, size, segments] of [
  ['0 B: one empty final segment', 0, 1],
  ['1 B', 1, 1],
  ['one segment exactly: a full segment and an empty final one', SEG, 2],
  ['one byte over a segment', SEG + 1, 2],
  ['one byte short of two segments', 2 * SEG - 1, 2],
  ['100 segments and a bit', 100 * SEG + 7, 101],
] as const) {
  test(`segmented round trip: ${label}`, (t) => {
    const pt = randomBytes(size);
    const env = seal(pt);
    t.is(env.length, segmentedEnvelopeLength(REF, SEG, size));
    t.is(env.length - parseSegmentedHeader(env)!.bytes.length - size, segments * 16, `${segments} segment(s)`);
    t.deepEqual(openSegmented(env, kekFor(IK), CTX), pt);
    // Streaming, in awkward splits: 1 byte at a time for small ones, odd sizes, one segment + 1.
    for (const pieces of size < 3000 ? [[1], [7, 1500, 3], [SEG + 16 + 1]] : [[7, 1500, 3], [SEG + 16 + 1], [65536]]) {
      const r = openStreaming(env, pieces);
      t.deepEqual(r.plaintext, pt, `pieces ${pieces.join(',')}`);
      t.true(r.maxBuffered <= SEG + 16 + MAX_SEGMENTED_HEADER_LENGTH, 'the opener holds at most about one segment');
    }
  });
}

test('segmented round trip: the sealer takes plaintext in any split and holds less than one segment', (t) => {
  const pt = randomBytes(5 * SEG + 300);
  const kek = deriveWrappingKey(IK, REF);
  const sealer = new SegmentSealer({ ref: REF, kek, context: CTX, segmentSize: SEG });
  kek.destroy(); // the KEK is needed only to wrap the data key
  const parts = [sealer.header];
  for (let off = 0; off < pt.length;) {
    const n = 1 + ((off * 7919) % 1700);
    for (const seg of sealer.push(pt.subarray(off, off + n))) parts.push(seg);
    t.true(sealer.bufferedBytes < SEG);
    off += n;
  }
  parts.push(sealer.final());
  sealer.destroy();
  t.true(sealer.destroyed);
  t.deepEqual(openSegmented(Buffer.concat(parts), kekFor(IK), CTX), pt);
});

test('segmented: each stream gets a fresh data key and nonce (one key per stream, never reused)', (t) => {
  const pt = Buffer.alloc(10);
  const a = parseSegmentedHeader(seal(pt))!;
  const b = parseSegmentedHeader(seal(pt))!;
  t.notDeepEqual(a.nonce, b.nonce);
  t.notDeepEqual(a.wrappedKey, b.wrappedKey);
});

test('segmented: the format is told by the flags byte; each parser refuses the other form', (t) => {
  const seg = seal(Buffer.from('x'));
  t.is(envelopeKind(seg), 'segmented');
  assertDecryptionFailed(t, () => parseEnvelope(seg));
  t.is(MIN_SEGMENTED_ENVELOPE_LENGTH, 119);
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 1, 1, 0])), 'block');
  t.is(envelopeKind(Buffer.from([0x55, 0x57, 1, 1, 2])), 'unknown');
  t.is(envelopeKind(Buffer.from([0x55, 0x57])), 'unknown');
  const block = Buffer.from(seg);
  block[4] = 0;
  assertDecryptionFailed(t, () => parseSegmentedHeader(block));
  t.is(parseSegmentedHeader(seg.subarray(0, 20)), undefined, 'too short so far: feed more');
});

test('segmented: garbage is rejected from its first bytes, without buffering', (t) => {
  const opener = new SegmentOpener({ context: {} });
  assertDecryptionFailed(t, () => opener.readHeader(Buffer.from('GET / HTTP/1.1\r\n')));
  const zeroTenant = Buffer.from([0x55, 0x57, 1, 1, 1, 0]);
  assertDecryptionFailed(t, () => new SegmentOpener({ context: {} }).readHeader(zeroTenant));
});

// ---- reordered, duplicated, dropped, truncated: core/format level ------------------------------------

const PT = randomBytes(3 * SEG + 100); // segments: full, full, full, final (100 B)
const ENV = seal(PT);
const { header: H, segments: S } = split(ENV, PT.length);
const [S0, S1, S2, S3] = S as [Buffer, Buffer, Buffer, Buffer];

for (const [rule, env] of [
  ['reordered segments are rejected (1 and 2 swapped)', Buffer.concat([H, S0, S2, S1, S3])],
  ['reordered segments are rejected (final moved first)', Buffer.concat([H, S3, S0, S1, S2])],
  ['a duplicated segment is rejected', Buffer.concat([H, S0, S1, S1, S2, S3])],
  ['a replayed first segment in place of another is rejected', Buffer.concat([H, S0, S0, S2, S3])],
  ['a dropped segment is rejected (middle)', Buffer.concat([H, S0, S2, S3])],
  ['a dropped segment is rejected (first)', Buffer.concat([H, S1, S2, S3])],
  ['truncation at a segment boundary is rejected (final segment dropped)', Buffer.concat([H, S0, S1, S2])],
  ['truncation to the header alone is rejected', H],
  ['truncation inside the final segment is rejected', Buffer.concat([H, S0, S1, S2, S3.subarray(0, 50)])],
  ['truncation inside a full segment is rejected', Buffer.concat([H, S0, S1.subarray(0, 900)])],
  ['truncation inside the header is rejected', H.subarray(0, H.length - 3)],
  ['bytes appended after the final segment are rejected', Buffer.concat([ENV, Buffer.from([0])])],
  [
    'a segment spliced in from another stream of the same policy is rejected',
    Buffer.concat([H, S0, split(seal(PT), PT.length).segments[1]!, S2, S3]),
  ],
] as const) {
  test(`segmented: ${rule}`, (t) => {
    assertDecryptionFailed(t, () => openSegmented(env, kekFor(IK), CTX), 'whole buffer');
    assertDecryptionFailed(t, () => openStreaming(env, [333]), 'streaming');
  });
}

test('segmented: plaintext is released only for segments whose tag verified, in order', (t) => {
  const env = Buffer.concat([H, S0, S1, S3]); // S2 dropped: S0 and S1 verify, the next one fails
  const opener = new SegmentOpener({ context: CTX });
  const read = opener.readHeader(env)!;
  const kek = deriveWrappingKey(IK, read.header);
  opener.unlock(kek);
  kek.destroy();
  const got: Buffer[] = [];
  const it = opener.push(read.rest);
  t.notThrows(() => got.push(it.next().value as Buffer));
  t.notThrows(() => got.push(it.next().value as Buffer));
  t.deepEqual(Buffer.concat(got), PT.subarray(0, 2 * SEG));
  assertDecryptionFailed(t, () => opener.final());
  opener.destroy();
});

test('segmented: the wrong context, the wrong key or a forged commitment fail', (t) => {
  assertDecryptionFailed(t, () => openSegmented(ENV, kekFor(IK), { ...CTX, object: 'doc-2' }));
  assertDecryptionFailed(t, () => openSegmented(ENV, kekFor(IK), {}));
  const other = SecretKey.copyFrom(randomBytes(32));
  assertDecryptionFailed(t, () => openSegmented(ENV, kekFor(other), CTX));
  const forged = Buffer.from(ENV);
  const fixedLen = 54 + REF.tenant.length;
  forged[fixedLen - 32] = (forged[fixedLen - 32] as number) ^ 1; // v2: the commitment is the fixed header's last 32 bytes
  assertDecryptionFailed(t, () => openSegmented(forged, kekFor(IK), CTX));
});

test('segmented: a check before every segment can stop a stream (how revocation stops it)', (t) => {
  let allowed = 2;
  const kek = deriveWrappingKey(IK, REF);
  const sealer = new SegmentSealer({
    ref: REF,
    kek,
    context: {},
    segmentSize: SEG,
    beforeSegment: () => {
      if (allowed-- <= 0) throw new UnwrapdError('failed_precondition', 'policy revoked');
    },
  });
  kek.destroy();
  const it = sealer.push(Buffer.alloc(5 * SEG));
  t.truthy(it.next().value);
  t.truthy(it.next().value);
  const err = t.throws(() => it.next(), { instanceOf: UnwrapdError });
  t.is(err?.code, 'failed_precondition');
  sealer.destroy();
});

test('segmented: invalid segment sizes and contexts are invalid arguments', (t) => {
  const kek = deriveWrappingKey(IK, REF);
  for (const segmentSize of [0, 1023, 4 * 1024 * 1024 + 1, 1500.5]) {
    const err = t.throws(() => new SegmentSealer({ ref: REF, kek, context: {}, segmentSize }), {
      instanceOf: UnwrapdError,
    });
    t.is(err?.code, 'invalid_argument');
  }
  const err = t.throws(() => new SegmentSealer({ ref: REF, kek, context: { '': 'x' }, segmentSize: SEG }), {
    instanceOf: UnwrapdError,
  });
  t.is(err?.code, 'invalid_argument');
  kek.destroy();
  t.throws(() => new SegmentSealer({ ref: REF, kek, context: {}, segmentSize: SEG }), {
    message: 'SecretKey used after destroy',
  });
});

// ---- vectors ---------------------------------------------------------------------------------------------

type PositiveVector = SegmentedPositiveVector;
const vectorsText = readFileSync(new URL('./vectors/envelope-segmented-v1.json', import.meta.url), 'utf8');
const vectors = JSON.parse(vectorsText) as { positive: PositiveVector[]; negative: NegativeVector[] };
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

test('segmented vectors: the generator reproduces the checked-in file byte for byte', (t) => {
  const text = JSON.stringify(buildVectors(), null, 2) + '\n';
  t.is(
    createHash('sha256').update(text).digest('hex'),
    createHash('sha256').update(vectorsText).digest('hex'),
    'run: node --import=tsx scripts/gen-segmented-vectors.ts',
  );
});

test('segmented vectors: 0 B, exactly one segment, one byte over, several segments; negatives of every kind', (t) => {
  const sizes = new Set(vectors.positive.map((v) => v.plaintext.length / 2));
  for (const s of [0, 1, 1023, 1024, 1025, 2500]) t.true(sizes.has(s), `${s} B`);
  const names = vectors.negative.map((v) => v.name).join('\n');
  for (const word of ['reordered', 'duplicated', 'dropped', 'truncated', 'appended', 'last flag'])
    t.regex(names, new RegExp(word));
});

for (const v of vectors.positive) {
  test(`segmented vectors: seal with the fixed randomness gives the exact envelope (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    const ref = { tenant: v.tenant, policyId: v.policyId, keyVersion: v.keyVersion };
    const kek = deriveWrappingKey(ik, ref);
    const calls: number[] = [];
    const queue = [hex(v.dataKey), hex(v.nonce)];
    const env = sealSegmented({
      ref,
      kek,
      context: v.context,
      segmentSize: v.segmentSize,
      plaintext: hex(v.plaintext),
      formatVersion: 1,
      random: (n) => {
        calls.push(n);
        return queue.shift() as Buffer;
      },
    });
    t.deepEqual(calls, [32, 12], 'randomness is drawn as data key (32) then nonce (12)');
    t.is(env.toString('hex'), v.envelope);
  });

  test(`segmented vectors: open gives the plaintext, whole and streamed (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    t.is(openSegmented(hex(v.envelope), kekFor(ik), v.context).toString('hex'), v.plaintext);
    t.is(openStreaming(hex(v.envelope), [1, 13, 400], v.context, ik).plaintext.toString('hex'), v.plaintext);
  });

  // An independent implementation of docs/envelope-format.md (Segmented envelopes) with raw node:crypto.
  test(`segmented vectors: an independent implementation of the spec reproduces the envelope (${v.name})`, (t) => {
    const tenant = Buffer.from(v.tenant, 'ascii');
    const policy = Buffer.from(v.policyId, 'ascii');
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const info = specKekInfo(v.tenant, v.policyId, v.keyVersion);
    const kek = Buffer.from(hkdfSync('sha256', hex(v.intermediateKey), Buffer.alloc(0), info, 32));
    t.is(kek.toString('hex'), v.derived.kek);
    const dk = hex(v.dataKey);
    const nonce = hex(v.nonce);
    const kw = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const wrapped = Buffer.concat([kw.update(dk), kw.final()]);
    const okm = Buffer.from(hkdfSync('sha256', dk, nonce, Buffer.from('unwrapd/v1 segment keys'), 64));
    const contentKey = okm.subarray(0, 32);
    const commitment = okm.subarray(32);
    t.is(contentKey.toString('hex'), v.derived.contentKey);
    const ctx = specContext(v.context);
    const fixedHeader = Buffer.concat([
      Buffer.from([0x55, 0x57, 0x01, 0x01, 0x01, tenant.length]),
      tenant,
      nonce,
      commitment,
      u32(v.segmentSize),
    ]);
    const wrapSection = Buffer.concat([Buffer.from([policy.length]), policy, u32(v.keyVersion), u16(40), wrapped]);
    const aad = Buffer.concat([fixedHeader, ctx]);
    t.is(aad.toString('hex'), v.derived.aad);
    const pt = hex(v.plaintext);
    const parts = [fixedHeader, wrapSection];
    const count = Math.floor(pt.length / v.segmentSize) + 1;
    for (let i = 0; i < count; i++) {
      const last = i === count - 1;
      const iv = Buffer.from(nonce);
      const ctr = u32(i);
      for (let j = 0; j < 4; j++) iv[7 + j] = (iv[7 + j] as number) ^ (ctr[j] as number);
      iv[11] = (iv[11] as number) ^ (last ? 1 : 0);
      t.is(iv.toString('hex'), v.derived.segments[i]?.nonce ?? '');
      const gcm = createCipheriv('aes-256-gcm', contentKey, iv);
      gcm.setAAD(aad);
      parts.push(
        gcm.update(pt.subarray(i * v.segmentSize, last ? pt.length : (i + 1) * v.segmentSize)),
        gcm.final(),
        gcm.getAuthTag(),
      );
    }
    t.is(Buffer.concat(parts).toString('hex'), v.envelope);
  });
}

for (const v of vectors.negative) {
  test(`segmented vectors: negative vector fails to open (${v.name})`, (t) => {
    const ik = SecretKey.copyFrom(hex(v.intermediateKey));
    assertDecryptionFailed(t, () => openSegmented(hex(v.envelope), kekFor(ik), v.context), 'whole buffer');
    assertDecryptionFailed(t, () => openStreaming(hex(v.envelope), [5, 700], v.context, ik), 'streaming');
  });
}
