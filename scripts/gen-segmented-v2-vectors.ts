/**
 * Generates test/vectors/envelope-segmented-v2.json, the published test vectors of the segmented (stream)
 * envelope format v2, whose whole header is authenticated before any segment (docs/envelope-format.md §8).
 * Deterministic, in the style of gen-segmented-vectors.ts (v1): every "random" input is SHA-256 of a label, fed
 * to SegmentSealer through its injectable randomness. Negative vectors edit header fields (segment size,
 * tenant, flags, version, wrap section, header tag), truncate the header, and move, drop or cut segments;
 * `rejectedBy` is the first check that refuses each, found by running the checks in the order of §8.2.
 *
 *   node --import=tsx scripts/gen-segmented-v2-vectors.ts           # write the file
 *   node --import=tsx scripts/gen-segmented-v2-vectors.ts --check   # exit 1 if the file differs
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { kwpUnwrap, kwpWrap } from '../src/crypto/aes-kwp.js';
import { encodeContext, type EncryptionContext } from '../src/crypto/encryption-context.js';
import { deriveWrappingKey, kekInfo, type EnvelopeRef } from '../src/crypto/envelope.js';
import { parseSegmentedHeader, replaceWrapSection, type SegmentedHeader } from '../src/crypto/segmented-format.js';
import { deriveSegmentKeys, sealSegmented, segmentKeysInfo, segmentNonce } from '../src/crypto/segmented.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { fixedBytesIn, flip, queuedRandom, segmentLayout, splitSegmented as split } from './vector-bytes.js';
import { generateWhenRun, vectorsPath } from './vector-file.js';
import type { NegativeVector, SegmentedV2PositiveVector } from './vector-types.js';

const OUT = vectorsPath('envelope-segmented-v2.json');

export type V2Check =
  'parse' | 'tenant' | 'unwrap' | 'data key length' | 'commitment' | 'header tag' | 'tag' | 'missing final segment';

/** n bytes derived from a label: SHA-256("unwrapd segmented v2 vector " || label || "#" || i), concatenated. */
const fixedBytes = fixedBytesIn('unwrapd segmented v2 vector');

const SEGMENT = 1024;
const IK = fixedBytes('intermediate key 1', 32);
const CONTOSO: EnvelopeRef = { tenant: 'contoso', policyId: 'dep-files-01', keyVersion: 3 };

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
    ref: CONTOSO,
    context: {},
    segmentSize: SEGMENT,
    plaintext: Buffer.alloc(0),
  },
  { name: 'one byte', ref: CONTOSO, context: { site: 'hr' }, segmentSize: SEGMENT, plaintext: Buffer.from([0x42]) },
  {
    name: 'one byte short of a segment (1023 B: one final segment)',
    ref: CONTOSO,
    context: { site: 'hr', object: 'doc-1' },
    segmentSize: SEGMENT,
    plaintext: fixedBytes('plaintext 1023', 1023),
  },
  {
    name: 'exactly one segment (1024 B: a full segment, then an empty final one)',
    ref: CONTOSO,
    context: { site: 'hr', object: 'doc-2' },
    segmentSize: SEGMENT,
    plaintext: fixedBytes('plaintext 1024', 1024),
  },
  {
    name: 'one byte over a segment (1025 B)',
    ref: CONTOSO,
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
  {
    name: 'one byte with 4 MiB segments (the format maximum; a reader capped lower refuses it)',
    ref: CONTOSO,
    context: {},
    segmentSize: 4 * 1024 * 1024,
    plaintext: Buffer.from([0x01]),
  },
];

type Positive = SegmentedV2PositiveVector;
type Negative = NegativeVector<V2Check>;

const kekOf = (ref: EnvelopeRef): SecretKey => deriveWrappingKey(SecretKey.copyFrom(IK), ref);

function seal(v: PositiveInput, index: number): Positive {
  const dataKey = fixedBytes(`data key ${index}`, 32);
  const nonce = fixedBytes(`nonce ${index}`, 12);
  const kek = kekOf(v.ref);
  const envelope = sealSegmented({
    ref: v.ref,
    kek,
    context: v.context,
    segmentSize: v.segmentSize,
    plaintext: v.plaintext,
    random: queuedRandom([Buffer.from(dataKey), Buffer.from(nonce)]), // copies: the sealer zeroes the data key it is given
  });
  const header = parseSegmentedHeader(envelope);
  if (!header || header.version !== 2) throw new Error('not a v2 header');
  const keys = deriveSegmentKeys(dataKey, header);
  const encodedContext = encodeContext(v.context);
  const segments = segmentLayout(nonce, header.bytes.length, v.plaintext.length, v.segmentSize, envelope.length);
  const out: Positive = {
    name: v.name,
    intermediateKey: IK.toString('hex'),
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
      keysInfo: segmentKeysInfo(header).toString('hex'),
      contentKey: keys.subarray(0, 32).toString('hex'),
      commitment: keys.subarray(32, 64).toString('hex'),
      headerKey: keys.subarray(64, 96).toString('hex'),
      headerTag: header.headerTag.toString('hex'),
      encodedContext: encodedContext.toString('hex'),
      aad: Buffer.concat([header.fixedHeader, encodedContext]).toString('hex'),
      headerLength: header.bytes.length,
      segments,
    },
  };
  kek.destroy();
  return out;
}

/**
 * The first check of docs/envelope-format.md §8.2 that refuses `envelope` (undefined: it opens), run stage
 * by stage with the library's parser and derivations and raw node:crypto for the segments.
 */
export function firstFailingCheck(
  envelope: Buffer,
  ik: Buffer,
  context: EncryptionContext,
  tenant: string,
): V2Check | undefined {
  let header: SegmentedHeader | undefined;
  try {
    header = parseSegmentedHeader(envelope);
  } catch {
    return 'parse';
  }
  if (!header) return 'parse';
  if (header.tenant !== tenant) return 'tenant';
  const kek = deriveWrappingKey(SecretKey.copyFrom(ik), header);
  let dataKey: Buffer;
  try {
    dataKey = kwpUnwrap(kek, header.wrappedKey);
  } catch {
    return 'unwrap';
  }
  if (dataKey.length !== 32) return 'data key length';
  const keys = deriveSegmentKeys(dataKey, header);
  if (!keys.subarray(32, 64).equals(header.commitment)) return 'commitment';
  if (header.version === 2) {
    const tag = createHmac('sha256', keys.subarray(64, 96))
      .update(header.bytes.subarray(0, header.bytes.length - 32))
      .digest();
    if (!tag.equals(header.headerTag)) return 'header tag';
  }
  const aad = Buffer.concat([header.fixedHeader, encodeContext(context)]);
  const open = (index: number, last: boolean, segment: Buffer): boolean => {
    if (segment.length < 16) return false;
    const d = createDecipheriv('aes-256-gcm', keys.subarray(0, 32), segmentNonce(header.nonce, index, last));
    d.setAAD(aad);
    d.setAuthTag(segment.subarray(segment.length - 16));
    d.update(segment.subarray(0, segment.length - 16));
    try {
      d.final();
      return true;
    } catch {
      return false;
    }
  };
  const full = header.segmentSize + 16;
  let off = header.bytes.length;
  let index = 0;
  for (; envelope.length - off >= full; off += full, index++)
    if (!open(index, false, envelope.subarray(off, off + full))) return 'tag';
  if (envelope.length - off < 16) return 'missing final segment';
  return open(index, true, envelope.subarray(off)) ? undefined : 'tag';
}

function withU32(b: Buffer, at: number, value: number): Buffer {
  const c = Buffer.from(b);
  c.writeUInt32BE(value, at);
  return c;
}

/** `header` with its tenant replaced by one of the same length (the header tag and commitment left as they are). */
function withTenant(header: Buffer, tenant: string): Buffer {
  const c = Buffer.from(header);
  c.write(tenant, 6, 'latin1');
  return c;
}

/**
 * An insider's forgery: the header of `v` with another tenant, the data key wrapped under that tenant's KEK,
 * and (`recompute`) the commitment and header tag made with the data key for the edited header.
 */
function forgedTenant(v: Positive, tenant: string, recompute: boolean): Buffer {
  const header = parseSegmentedHeader(withTenant(split(v).header, tenant)) as SegmentedHeader;
  const ref = { tenant, policyId: v.policyId, keyVersion: v.keyVersion };
  const out = parseSegmentedHeader(
    replaceWrapSection(header, ref, kwpWrap(kekOf(ref), Buffer.from(v.dataKey, 'hex'))),
  ) as SegmentedHeader;
  const keys = deriveSegmentKeys(Buffer.from(v.dataKey, 'hex'), out);
  out.headerTag.set(Buffer.from(v.derived.headerTag, 'hex'));
  if (recompute) {
    keys.copy(out.commitment, 0, 32, 64);
    createHmac('sha256', keys.subarray(64, 96))
      .update(out.bytes.subarray(0, out.bytes.length - 32))
      .digest()
      .copy(out.headerTag);
  }
  return out.bytes;
}

/** The header of `v` moved to `policyId` (the data key re-wrapped under its KEK) with `v`'s old header tag kept. */
function rewrappedKeepingTag(v: Positive, policyId: string): Buffer {
  const header = parseSegmentedHeader(split(v).header) as SegmentedHeader;
  const ref = { tenant: v.tenant, policyId, keyVersion: v.keyVersion };
  const out = parseSegmentedHeader(
    replaceWrapSection(header, ref, kwpWrap(kekOf(ref), Buffer.from(v.dataKey, 'hex'))),
  ) as SegmentedHeader;
  out.headerTag.set(header.headerTag);
  return out.bytes;
}

/**
 * A v2 stream sealed exactly as §8.2 says but with a data key of `dataKey.length` bytes (the sealer only makes
 * 32): its 25..32 bytes wrap to 40, and the commitment, header tag and segments all match that key. Only the
 * check that the unwrapped data key is exactly 32 bytes refuses it.
 */
function sealWithDataKey(
  ref: EnvelopeRef,
  dataKey: Buffer,
  nonce: Buffer,
  context: EncryptionContext,
  plaintext: Buffer,
): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const tenant = Buffer.from(ref.tenant, 'latin1');
  const policy = Buffer.from(ref.policyId, 'latin1');
  const prefix = Buffer.concat([Buffer.from([0x55, 0x57, 2, 1, 1, tenant.length]), tenant, u32(SEGMENT), nonce]);
  const info = Buffer.concat([Buffer.from('unwrapd/v2 segment keys'), prefix]);
  const okm = Buffer.from(hkdfSync('sha256', dataKey, nonce, info, 96));
  const fixed = Buffer.concat([prefix, okm.subarray(32, 64)]);
  const wrapped = kwpWrap(kekOf(ref), dataKey);
  if (wrapped.length !== 40) throw new Error('a data key of this length does not wrap to 40 bytes');
  const wrap = Buffer.concat([
    Buffer.from([policy.length]),
    policy,
    u32(ref.keyVersion),
    Buffer.from([0, 40]),
    wrapped,
  ]);
  const parts = [
    fixed,
    wrap,
    createHmac('sha256', okm.subarray(64))
      .update(Buffer.concat([fixed, wrap]))
      .digest(),
  ];
  const aad = Buffer.concat([fixed, encodeContext(context)]);
  const n = Math.floor(plaintext.length / SEGMENT) + 1;
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const gcm = createCipheriv('aes-256-gcm', okm.subarray(0, 32), segmentNonce(nonce, i, last));
    gcm.setAAD(aad);
    const end = last ? plaintext.length : (i + 1) * SEGMENT;
    parts.push(gcm.update(plaintext.subarray(i * SEGMENT, end)), gcm.final(), gcm.getAuthTag());
  }
  return Buffer.concat(parts);
}

export function buildVectors(): unknown {
  const positive = POSITIVE.map((v, i) => seal(v, i));
  const base = positive[4] as Positive; // contoso, 1025 B: a full segment and a 1-byte final one
  const three = positive[5] as Positive; // 3 segments: full, full, final
  const other = positive[3] as Positive; // contoso, same policy, another data key
  const b = split(base);
  const [b0, b1] = b.segments as [Buffer, Buffer];
  const t = split(three);
  const [s0, s1, s2] = t.segments as [Buffer, Buffer, Buffer];
  const tl = base.tenant.length; // 7
  const F = 54 + tl; // fixed header length
  const sizeAt = 6 + tl;
  const nonceAt = sizeAt + 4;
  const commitmentAt = nonceAt + 12;
  const H = base.derived.headerLength;
  const rest = (...segments: Buffer[]) => segments;
  const bs = rest(b0, b1);

  // [name, envelope, the positive it was made from, the context and the tenant it is opened with]
  const cases: [string, Buffer, Positive?, EncryptionContext?, string?][] = [
    // The stream attack: the segment size edited upwards, downwards, out of range.
    [
      'segment size 1024 -> 4194304 (edited to the format maximum)',
      Buffer.concat([withU32(b.header, sizeAt, 4 * 1024 * 1024), ...bs]),
    ],
    ['segment size 1024 -> 1025', Buffer.concat([withU32(b.header, sizeAt, 1025), ...bs])],
    ['segment size 1024 -> 768 (below the minimum)', Buffer.concat([withU32(b.header, sizeAt, 768), ...bs])],
    [
      'segment size 1024 -> 4294967295 (above the maximum)',
      Buffer.concat([withU32(b.header, sizeAt, 0xffff_ffff), ...bs]),
    ],
    // Other fixed-header fields.
    [
      'tenant edited (contoso -> contosa)',
      Buffer.concat([withTenant(b.header, 'contosa'), ...bs]),
      base,
      undefined,
      'contosa',
    ],
    [
      "tenant edited, data key re-wrapped under that tenant's KEK (header tag kept)",
      Buffer.concat([forgedTenant(base, 'contosa', false), ...bs]),
      base,
      undefined,
      'contosa',
    ],
    [
      'tenant edited by a holder of the data key: commitment and header tag recomputed (the segments\u2019 AAD still refuses)',
      Buffer.concat([forgedTenant(base, 'contosa', true), ...bs]),
      base,
      undefined,
      'contosa',
    ],
    ['flags: unknown bit 7 set', Buffer.concat([flip(b.header, 4, 0x80), ...bs])],
    ['flags: segmented bit cleared', Buffer.concat([flip(b.header, 4, 0x01), ...bs])],
    ['version 2 -> 1 (read with the v1 layout)', Buffer.concat([flip(b.header, 2, 0x03), ...bs])],
    ['version 2 -> 3', Buffer.concat([flip(b.header, 2, 0x01), ...bs])],
    ['suite 1 -> 2', Buffer.concat([flip(b.header, 3, 0x03), ...bs])],
    ['magic: first byte xor 0x01', Buffer.concat([flip(b.header, 0, 0x01), ...bs])],
    ['nonce: first byte xor 0x01', Buffer.concat([flip(b.header, nonceAt, 0x01), ...bs])],
    ['commitment: last byte xor 0x01', Buffer.concat([flip(b.header, commitmentAt + 31, 0x01), ...bs])],
    // The wrap section and the header tag.
    ['policy id: last byte edited', Buffer.concat([flip(b.header, F + base.policyId.length, 0x02), ...bs])],
    ['key version 3 -> 4', Buffer.concat([withU32(b.header, F + 1 + base.policyId.length, 4), ...bs])],
    ['wrapped data key: last byte xor 0x01', Buffer.concat([flip(b.header, H - 33, 0x01), ...bs])],
    [
      'wrap section from another stream of the same policy (its data key unwraps)',
      Buffer.concat([b.header.subarray(0, F), split(other).header.subarray(F), ...bs]),
    ],
    [
      'data key re-wrapped under another policy, header tag kept',
      Buffer.concat([rewrappedKeepingTag(base, 'dep-files-09'), ...bs]),
    ],
    ['header tag: first byte xor 0x01', Buffer.concat([flip(b.header, H - 32, 0x01), ...bs])],
    ['header tag: last byte xor 0x80', Buffer.concat([flip(b.header, H - 1, 0x80), ...bs])],
    // Truncated headers.
    ['truncated: 10 bytes (inside the tenant)', b.header.subarray(0, 10)],
    ['truncated: just before the segment size ends', b.header.subarray(0, sizeAt + 3)],
    ['truncated: the fixed header alone', b.header.subarray(0, F)],
    ['truncated inside the wrap section', b.header.subarray(0, F + 20)],
    ['truncated: header tag cut short by one byte', b.header.subarray(0, H - 1)],
    ['truncated: header only, no segment', b.header],
    // Segments (as v1).
    ['reordered: segments 0 and 1 swapped', Buffer.concat([t.header, s1, s0, s2]), three],
    ['duplicated: segment 0 twice', Buffer.concat([t.header, s0, s0, s1, s2]), three],
    ['dropped: segment 1 removed', Buffer.concat([t.header, s0, s2]), three],
    ['truncated at a segment boundary: final segment removed', Buffer.concat([t.header, s0, s1]), three],
    [
      'truncated: last byte of the final segment removed',
      Buffer.concat([t.header, s0, s1, s2.subarray(0, s2.length - 1)]),
      three,
    ],
    ['appended: one byte after the final segment', Buffer.concat([t.header, s0, s1, s2, Buffer.from([0])]), three],
    [
      'segment from another stream (same policy, other data key)',
      Buffer.concat([b.header, split(other).segments[0] as Buffer, b1]),
    ],
    ['tag of segment 1 last byte xor 0x01', Buffer.concat([t.header, s0, flip(s1, s1.length - 1, 0x01), s2]), three],
    [
      'wrong context (another value)',
      Buffer.from(three.envelope, 'hex'),
      three,
      { ...three.context, site: 'https://fabrikam.example/sites/finance' },
    ],
    ['wrong context (empty)', Buffer.from(base.envelope, 'hex'), base, {}],
    ['empty input', Buffer.alloc(0)],
    // What a literal reader must check besides the cryptography.
    [
      'wrong tenant: a genuine stream of contoso, opened for the tenant fabrikam',
      Buffer.from(base.envelope, 'hex'),
      base,
      undefined,
      'fabrikam',
    ],
    ...[25, 31].map((n): [string, Buffer] => [
      `data key of ${n} bytes under a valid KWP wrap (40 bytes; commitment, header tag and segments match that key)`,
      sealWithDataKey(
        CONTOSO,
        fixedBytes(`short data key ${n}`, n),
        fixedBytes(`short nonce ${n}`, 12),
        base.context,
        fixedBytes(`short data key plaintext ${n}`, 1025),
      ),
    ]),
  ];

  const negative: Negative[] = cases.map(([name, envelope, from = base, context, tenant = from.tenant]) => {
    const ctx = context ?? from.context;
    const rejectedBy = firstFailingCheck(envelope, IK, ctx, tenant);
    if (rejectedBy === undefined) throw new Error(`negative vector opens: ${name}`);
    return {
      name,
      rejectedBy,
      intermediateKey: from.intermediateKey,
      tenant,
      context: ctx,
      envelope: envelope.toString('hex'),
    };
  });

  return {
    format: 'unwrapd envelope, segmented (stream) form, format version 2: header authenticated before any segment',
    spec: 'docs/envelope-format.md (Segmented envelopes)',
    generator: 'scripts/gen-segmented-v2-vectors.ts',
    notes: [
      'All byte strings are lowercase hex. Sealing each positive vector with its data key and nonce must give exactly',
      '`envelope`; opening `envelope` (KEK derived from intermediateKey and the ids in the header) with `context` must',
      'give `plaintext`. Every negative vector must fail to open; `rejectedBy` is the first check (in the order of the',
      'spec) that refuses it: parse, tenant (the header\u2019s tenant is not `tenant`, the one it is opened for), unwrap,',
      'data key length (the unwrapped data key is not exactly 32 bytes), commitment, header tag, then the segments',
      '(tag, missing final segment). A failure before the segments happens before any segment is read.',
    ],
    positive,
    negative,
  };
}

generateWhenRun(import.meta.url, OUT, buildVectors);
