/**
 * Generates test/vectors/envelope-segmented-v1.json, the published test vectors of the segmented (stream)
 * envelope (docs/envelope-format.md, "Segmented envelopes"). Deterministic: every "random" input is fixed
 * (SHA-256 of a label) and fed to SegmentSealer through its injectable randomness, so re-running reproduces
 * the file byte for byte. Negative vectors are built from the positive ones by moving, repeating, dropping
 * or cutting segments, and by sealing segments with node:crypto directly (a final segment marked non-final,
 * a full-size final segment), which the library's sealer refuses to produce.
 *
 *   node --import=tsx scripts/gen-segmented-vectors.ts           # write the file
 *   node --import=tsx scripts/gen-segmented-vectors.ts --check   # exit 1 if the file differs
 */
import { createCipheriv, hkdfSync } from 'node:crypto';
import { encodeContext, type EncryptionContext } from '../src/crypto/encryption-context.js';
import { deriveWrappingKey, kekInfo, type EnvelopeRef } from '../src/crypto/envelope.js';
import { parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { sealSegmented, segmentNonce } from '../src/crypto/segmented.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { fixedBytesIn, flip, hex, queuedRandom, segmentLayout, splitSegmented as split } from './vector-bytes.js';
import { generateWhenRun, vectorsPath } from './vector-file.js';
import type { NegativeVector, SegmentedPositiveVector } from './vector-types.js';

const OUT = vectorsPath('envelope-segmented-v1.json');

/** n bytes derived from a label: SHA-256("unwrapd segmented vector " || label || "#" || i), concatenated. */
const fixedBytes = fixedBytesIn('unwrapd segmented vector');

const SEGMENT = 1024; // the smallest segment size: small vectors with several segments

interface PositiveInput {
  name: string;
  ref: EnvelopeRef;
  context: EncryptionContext;
  segmentSize: number;
  plaintext: Buffer;
}

const POSITIVE: PositiveInput[] = [
  {
    name: 'empty stream (one empty final segment), empty context',
    ref: { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 1 },
    context: {},
    segmentSize: SEGMENT,
    plaintext: Buffer.alloc(0),
  },
  {
    name: 'one byte',
    ref: { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 1 },
    context: { site: 'hr' },
    segmentSize: SEGMENT,
    plaintext: Buffer.from([0x42]),
  },
  {
    name: 'one byte short of a segment (1023 B: one final segment)',
    ref: { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 1 },
    context: { site: 'hr', object: 'doc-1' },
    segmentSize: SEGMENT,
    plaintext: fixedBytes('plaintext 1023', 1023),
  },
  {
    name: 'exactly one segment (1024 B: a full segment, then an empty final one)',
    ref: { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 1 },
    context: { site: 'hr', object: 'doc-2' },
    segmentSize: SEGMENT,
    plaintext: fixedBytes('plaintext 1024', 1024),
  },
  {
    name: 'one byte over a segment (1025 B)',
    ref: { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 3 },
    context: { object: 'doc-3' },
    segmentSize: SEGMENT,
    plaintext: fixedBytes('plaintext 1025', 1025),
  },
  {
    name: 'three segments (2500 B), Unicode context, 64-character ids, maximum key version',
    ref: { tenant: 'F'.repeat(63) + '9', policyId: 'files_' + 'x'.repeat(57) + '0', keyVersion: 0xffff_ffff },
    context: { '\u{1F600}': 'grinning face', '\uFF21': 'fullwidth A', site: 'https://fabrikam.example/sites/hr' },
    segmentSize: SEGMENT,
    plaintext: fixedBytes('plaintext 2500', 2500),
  },
  {
    name: '4097 B with 4 KiB segments',
    ref: { tenant: 'fabrikam', policyId: 'dep-files-02', keyVersion: 2 },
    context: {},
    segmentSize: 4096,
    plaintext: fixedBytes('plaintext 4097', 4097),
  },
];

type Positive = SegmentedPositiveVector;
type Negative = NegativeVector<'parse' | 'unwrap' | 'commitment' | 'tag' | 'missing final segment'>;

function seal(v: PositiveInput, index: number): Positive {
  const ik = fixedBytes('intermediate key 1', 32);
  const dataKey = fixedBytes(`data key ${index}`, 32);
  const nonce = fixedBytes(`nonce ${index}`, 12);
  const ikKey = SecretKey.copyFrom(ik);
  const kek = deriveWrappingKey(ikKey, v.ref);
  const envelope = sealSegmented({
    ref: v.ref,
    kek,
    context: v.context,
    segmentSize: v.segmentSize,
    plaintext: v.plaintext,
    formatVersion: 1, // this file publishes the v1 layout (read-only now); v2: gen-segmented-v2-vectors.ts
    random: queuedRandom([Buffer.from(dataKey), Buffer.from(nonce)]), // copies: the sealer zeroes the data key it is given
  });
  const keys = Buffer.from(hkdfSync('sha256', dataKey, nonce, Buffer.from('unwrapd/v1 segment keys'), 64));
  const header = parseSegmentedHeader(envelope);
  if (!header) throw new Error('no header');
  const encodedContext = encodeContext(v.context);
  const segments = segmentLayout(nonce, header.bytes.length, v.plaintext.length, v.segmentSize, envelope.length);
  const out: Positive = {
    name: v.name,
    intermediateKey: ik.toString('hex'),
    tenant: v.ref.tenant,
    policyId: v.ref.policyId,
    keyVersion: v.ref.keyVersion,
    segmentSize: v.segmentSize,
    dataKey: dataKey.toString('hex'),
    nonce: nonce.toString('hex'),
    context: v.context,
    plaintext: v.plaintext.toString('hex'),
    envelope: envelope.toString('hex'),
    derived: {
      kekInfo: kekInfo(v.ref).toString('hex'),
      kek: kek.expose().toString('hex'),
      wrappedDataKey: header.wrappedKey.toString('hex'),
      contentKey: keys.subarray(0, 32).toString('hex'),
      commitment: keys.subarray(32).toString('hex'),
      encodedContext: encodedContext.toString('hex'),
      aad: Buffer.concat([header.fixedHeader, encodedContext]).toString('hex'),
      headerLength: header.bytes.length,
      segments,
    },
  };
  kek.destroy();
  ikKey.destroy();
  return out;
}

/** A segment sealed with node:crypto directly, with any index and last flag (what the sealer refuses to do). */
function rawSegment(v: Positive, index: number, last: boolean, plaintext: Buffer): Buffer {
  const cipher = createCipheriv(
    'aes-256-gcm',
    Buffer.from(v.derived.contentKey, 'hex'),
    segmentNonce(Buffer.from(v.nonce, 'hex'), index, last),
  );
  cipher.setAAD(Buffer.from(v.derived.aad, 'hex'));
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function buildVectors(): unknown {
  const positive = POSITIVE.map((v, i) => seal(v, i));
  const three = positive[5] as Positive; // 3 segments: full, full, final (452 B)
  const two = positive[3] as Positive; // full + empty final
  const one = positive[1] as Positive; // one 1-byte final segment
  const neg = (
    name: string,
    rejectedBy: Negative['rejectedBy'],
    envelope: string,
    from: Positive = three,
    context?: EncryptionContext,
  ): Negative => ({
    name,
    rejectedBy,
    intermediateKey: from.intermediateKey,
    context: context ?? from.context,
    envelope,
  });
  const t = split(three);
  const [s0, s1, s2] = t.segments as [Buffer, Buffer, Buffer];
  const w = split(two);
  const [w0, w1] = w.segments as [Buffer, Buffer];
  const fh = three.derived.headerLength - (47 + three.policyId.length); // fixed header length
  const twoPlain = Buffer.from(two.plaintext, 'hex');

  const negative: Negative[] = [
    neg('reordered: segments 0 and 1 swapped', 'tag', hex(t.header, s1, s0, s2)),
    neg('duplicated: segment 0 twice', 'tag', hex(t.header, s0, s0, s1, s2)),
    neg('dropped: segment 1 removed', 'tag', hex(t.header, s0, s2)),
    neg('truncated at a segment boundary: final segment removed', 'missing final segment', hex(t.header, s0, s1)),
    neg(
      'truncated at a segment boundary: empty final segment removed (1024 B stream)',
      'missing final segment',
      hex(w.header, w0),
      two,
    ),
    neg('truncated: header only', 'missing final segment', hex(t.header)),
    neg('truncated inside the header', 'parse', hex(t.header.subarray(0, t.header.length - 1))),
    neg(
      'truncated: last byte of the final segment removed',
      'tag',
      hex(t.header, s0, s1, s2.subarray(0, s2.length - 1)),
    ),
    neg(
      'truncated: final segment shorter than a tag',
      'missing final segment',
      hex(t.header, s0, s1, s2.subarray(0, 15)),
    ),
    neg('truncated inside a full segment', 'tag', hex(t.header, s0, s1.subarray(0, 500))),
    neg('appended: one byte after the final segment', 'tag', hex(t.header, s0, s1, s2, Buffer.from([0]))),
    neg('appended: the final segment twice', 'tag', hex(t.header, s0, s1, s2, s2)),
    neg(
      'last flag: final segment sealed as non-final',
      'tag',
      hex(w.header, w0, rawSegment(two, 1, false, Buffer.alloc(0))),
      two,
    ),
    neg(
      'last flag: a full segment sealed as final (the stream ends with it)',
      'tag',
      hex(w.header, rawSegment(two, 0, true, twoPlain)),
      two,
    ),
    neg(
      'last flag: a non-final segment marked final, followed by the real final one',
      'tag',
      hex(w.header, rawSegment(two, 0, true, twoPlain), w1),
      two,
    ),
    neg(
      'segment from another stream (same key material, other data key)',
      'tag',
      hex(t.header, s0, split(positive[4] as Positive).segments[0] as Buffer, s2),
    ),
    neg('tag of segment 1 last byte xor 0x01', 'tag', hex(t.header, s0, flip(s1, s1.length - 1, 0x01), s2)),
    neg('ciphertext of segment 0 first byte xor 0x80', 'tag', hex(t.header, flip(s0, 0, 0x80), s1, s2)),
    neg('commitment: first byte xor 0x01', 'commitment', hex(flip(t.header, fh - 36, 0x01), s0, s1, s2)),
    neg('nonce: first byte xor 0x01', 'commitment', hex(flip(t.header, fh - 48, 0x01), s0, s1, s2)),
    neg('segment size 1024 -> 1025 (bound by the AAD)', 'tag', hex(flip(t.header, fh - 1, 0x01), s0, s1, s2)),
    neg('segment size 768 (below the minimum)', 'parse', hex(flip(t.header, fh - 2, 0x04 ^ 0x03), s0, s1, s2)),
    neg('wrapped data key: last byte xor 0x01', 'unwrap', hex(flip(t.header, t.header.length - 1, 0x01), s0, s1, s2)),
    neg('flags: segmented bit cleared', 'parse', hex(flip(t.header, 4, 0x01), s0, s1, s2)),
    neg('flags: unknown bit 7 set', 'parse', hex(flip(t.header, 4, 0x80), s0, s1, s2)),
    neg('wrong context (another value)', 'tag', three.envelope, three, {
      ...three.context,
      site: 'https://fabrikam.example/sites/finance',
    }),
    neg('wrong context (empty)', 'tag', one.envelope, one, {}),
    neg('empty input', 'parse', ''),
  ];

  return {
    format: 'unwrapd envelope v1, segmented (stream) form: flags bit 0',
    spec: 'docs/envelope-format.md (Segmented envelopes)',
    generator: 'scripts/gen-segmented-vectors.ts',
    notes: [
      'All byte strings are lowercase hex. Sealing each positive vector with its data key and nonce must give exactly',
      '`envelope`; opening `envelope` (KEK derived from intermediateKey and the ids in the header) with `context` must',
      'give `plaintext`. Every negative vector must fail to open as a whole stream (a streaming reader may release the',
      'plaintext of segments that verified before the failure; the stream as a whole fails).',
    ],
    positive,
    negative,
  };
}

generateWhenRun(import.meta.url, OUT, buildVectors);
