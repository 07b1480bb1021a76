/**
 * Generates test/vectors/envelope-v1.json, the published test vectors of the v1 envelope format, suite 1
 * (docs/envelope-format.md); `buildVectors(2)` gives those of suite 2 (scripts/gen-envelope-suite2-vectors.ts
 * writes them). Deterministic: every "random" input is fixed (SHA-256 of a label) and fed to sealBlock through
 * its injectable randomness, so re-running reproduces the file byte for byte. Both suites use the same inputs.
 *
 *   node --import=tsx scripts/gen-envelope-vectors.ts           # write the file
 *   node --import=tsx scripts/gen-envelope-vectors.ts --check   # exit 1 if the file differs
 */
import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { kwpWrap } from '../src/crypto/aes-kwp.js';
import { encodeContext, type EncryptionContext } from '../src/crypto/encryption-context.js';
import {
  deriveWrappingKey,
  kekInfo,
  parseEnvelope,
  sealBlock,
  type BlockSuite,
  type EnvelopeRef,
} from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { fixedBytesIn, queuedRandom } from './vector-bytes.js';
import { generateWhenRun, vectorsPath } from './vector-file.js';
import type { BlockPositiveVector, NegativeVector } from './vector-types.js';

const OUT = vectorsPath('envelope-v1.json');

/** n bytes derived from a label: SHA-256("unwrapd test vector " || label || "#" || i), concatenated. */
const fixedBytes = fixedBytesIn('unwrapd test vector');

interface PositiveInput {
  name: string;
  ref: EnvelopeRef;
  context: EncryptionContext;
  plaintext: Buffer;
}

const IK_LABEL = 'intermediate key 1';
const IK2_LABEL = 'intermediate key 2';

const POSITIVE: PositiveInput[] = [
  {
    name: 'empty plaintext, empty context',
    ref: { tenant: 'contoso', policyId: 'dep-mail-01', keyVersion: 1 },
    context: {},
    plaintext: Buffer.alloc(0),
  },
  {
    name: 'one-byte plaintext, one context entry',
    ref: { tenant: 'contoso', policyId: 'dep-mail-01', keyVersion: 1 },
    context: { mailbox: 'alice@contoso.example' },
    plaintext: Buffer.from([0x42]),
  },
  {
    name: '100-byte plaintext, no context, other policy and version',
    ref: { tenant: 'contoso', policyId: 'dep-mail-02', keyVersion: 7 },
    context: {},
    plaintext: fixedBytes('plaintext 100 a', 100),
  },
  {
    // Keys given out of order; includes non-ASCII keys whose UTF-8 order differs from UTF-16 order
    // ("\uFF21" FULLWIDTH A = EF BC A1 sorts before U+1F600 = F0 9F 98 80 in UTF-8, after it in UTF-16),
    // and an empty value.
    name: '100-byte plaintext, multi-entry Unicode context, maximum key version',
    ref: { tenant: 'fabrikam.eu', policyId: 'dep_files-7', keyVersion: 0xffff_ffff },
    context: {
      site: 'https://fabrikam.example/sites/hr',
      '\u{1F600}': 'grinning face',
      object: 'doc-0001',
      '\uFF21': 'fullwidth A',
      schlüssel: 'wert ä',
      empty: '',
    },
    plaintext: fixedBytes('plaintext 100 b', 100),
  },
  {
    name: '17-byte ASCII plaintext, 64-character ids',
    ref: { tenant: 'T'.repeat(63) + '0', policyId: 'p'.repeat(32) + '.'.repeat(31) + 'z', keyVersion: 2 },
    context: { scope: 'site:42' },
    plaintext: Buffer.from('hello, envelopes!', 'utf8'),
  },
];

type Positive = BlockPositiveVector;

/**
 * Suite 2's one-step KDF input (docs/envelope-format.md §3.3): u32(1) || DK || label || nonce. Written out here
 * from the spec, not taken from src/crypto/envelope.ts.
 */
function suite2KdfInput(dataKey: Buffer, nonce: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0, 1]), dataKey, Buffer.from('unwrapd/v1 suite 2 block keys'), nonce]);
}

/** contentKey || commitment of a suite (§3.3), from the spec with node:crypto. */
function specBlockKeys(suite: BlockSuite, dataKey: Buffer, nonce: Buffer): Buffer {
  if (suite === 1) return Buffer.from(hkdfSync('sha256', dataKey, nonce, Buffer.from('unwrapd/v1 block keys'), 64));
  return createHash('sha512').update(suite2KdfInput(dataKey, nonce)).digest();
}
type Negative = NegativeVector<'parse' | 'tenant' | 'unwrap' | 'data key length' | 'commitment' | 'tag'>;

/**
 * An envelope sealed exactly as §3 says but with a data key of `dataKey.length` bytes (sealBlock only makes
 * 32): a KWP wrap of 25..32 bytes is 40 bytes, so the layout is valid, the wrap unwraps, and the commitment and
 * tag match the key. Only the check that the unwrapped data key is exactly 32 bytes refuses it.
 */
function sealWithDataKey(v: PositiveInput, ikLabel: string, dataKey: Buffer, nonce: Buffer, suite: BlockSuite): string {
  const ikKey = SecretKey.copyFrom(fixedBytes(ikLabel, 32));
  const kek = deriveWrappingKey(ikKey, v.ref);
  const wrapped = kwpWrap(kek, dataKey);
  kek.destroy();
  ikKey.destroy();
  if (wrapped.length !== 40) throw new Error('a data key of this length does not wrap to 40 bytes');
  const okm = specBlockKeys(suite, dataKey, nonce);
  const tenant = Buffer.from(v.ref.tenant, 'latin1');
  const policy = Buffer.from(v.ref.policyId, 'latin1');
  const fixedHeader = Buffer.concat([
    Buffer.from([0x55, 0x57, 1, suite, 0, tenant.length]),
    tenant,
    nonce,
    okm.subarray(32),
  ]);
  const version = Buffer.alloc(4);
  version.writeUInt32BE(v.ref.keyVersion);
  const wrapSection = Buffer.concat([Buffer.from([policy.length]), policy, version, Buffer.from([0, 40]), wrapped]);
  const gcm = createCipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
  gcm.setAAD(Buffer.concat([fixedHeader, encodeContext(v.context)]));
  const body = Buffer.concat([gcm.update(v.plaintext), gcm.final(), gcm.getAuthTag()]);
  return Buffer.concat([fixedHeader, wrapSection, body]).toString('hex');
}

function seal(v: PositiveInput, ikLabel: string, dkLabel: string, nonceLabel: string, suite: BlockSuite): Positive {
  const ik = fixedBytes(ikLabel, 32);
  const dataKey = fixedBytes(dkLabel, 32);
  const nonce = fixedBytes(nonceLabel, 12);
  const ikKey = SecretKey.copyFrom(ik);
  const kek = deriveWrappingKey(ikKey, v.ref);
  const envelope = sealBlock({
    ref: v.ref,
    kek,
    plaintext: v.plaintext,
    context: v.context,
    suite,
    random: queuedRandom([Buffer.from(dataKey), Buffer.from(nonce)]), // copies: sealBlock zeroes the data key it is given
  });
  const blockKeys = specBlockKeys(suite, dataKey, nonce);
  const parsed = parseEnvelope(envelope);
  const encodedContext = encodeContext(v.context);
  const out: Positive = {
    name: v.name,
    intermediateKey: ik.toString('hex'),
    tenant: v.ref.tenant,
    policyId: v.ref.policyId,
    keyVersion: v.ref.keyVersion,
    dataKey: dataKey.toString('hex'),
    nonce: nonce.toString('hex'),
    context: v.context,
    plaintext: v.plaintext.toString('hex'),
    envelope: envelope.toString('hex'),
    derived: {
      kekInfo: kekInfo(v.ref).toString('hex'),
      kek: kek.expose().toString('hex'),
      wrappedDataKey: parsed.wrappedKey.toString('hex'),
      ...(suite === 2 && { kdfInput: suite2KdfInput(dataKey, nonce).toString('hex') }),
      contentKey: blockKeys.subarray(0, 32).toString('hex'),
      commitment: blockKeys.subarray(32).toString('hex'),
      encodedContext: encodedContext.toString('hex'),
      aad: Buffer.concat([parsed.fixedHeader, encodedContext]).toString('hex'),
    },
  };
  kek.destroy();
  ikKey.destroy();
  return out;
}

function mutate(hex: string, f: (b: Buffer) => Buffer): string {
  return f(Buffer.from(hex, 'hex')).toString('hex');
}

function flip(offset: (b: Buffer) => number, mask: number): (b: Buffer) => Buffer {
  return (b) => {
    const c = Buffer.from(b);
    const i = offset(c);
    c[i] = (c[i] as number) ^ mask;
    return c;
  };
}

export function buildVectors(suite: BlockSuite = 1): unknown {
  const positive = POSITIVE.map((v, i) => seal(v, IK_LABEL, `data key ${i}`, `nonce ${i}`, suite));
  const base = positive[3] as Positive; // 100 bytes, multi-entry context
  const small = positive[1] as Positive; // 1 byte, one entry
  const fh = 50 + base.tenant.length; // fixed header length of `base`
  const neg = (name: string, rejectedBy: Negative['rejectedBy'], envelope: string, from = base): Negative => ({
    name,
    rejectedBy,
    intermediateKey: from.intermediateKey,
    tenant: from.tenant,
    context: from.context,
    envelope,
  });

  // Same header and body as `small`, but the wrap section of an envelope sealed with another data key under
  // the same tenant, policy and version: the KWP unwrap succeeds, the commitment does not match.
  const otherDk = seal(POSITIVE[1] as PositiveInput, IK_LABEL, 'other data key', 'nonce 1', suite);
  const smallFh = 50 + small.tenant.length;
  const smallWrapEnd = smallFh + 47 + small.policyId.length;
  const swappedWrap =
    small.envelope.slice(0, smallFh * 2) +
    otherDk.envelope.slice(smallFh * 2, smallWrapEnd * 2) +
    small.envelope.slice(smallWrapEnd * 2);

  // Sealed under another intermediate key with the same ids: the envelope is well formed but the KEK derived
  // from intermediate key 1 cannot unwrap it.
  const otherIk = seal(POSITIVE[1] as PositiveInput, IK2_LABEL, 'data key 1', 'nonce 1', suite);

  const negative: Negative[] = [
    neg(
      'tag: last byte xor 0x01',
      'tag',
      mutate(
        base.envelope,
        flip((b) => b.length - 1, 0x01),
      ),
    ),
    neg(
      'ciphertext: first byte xor 0x80',
      'tag',
      mutate(
        base.envelope,
        flip((b) => b.length - 16 - 100, 0x80),
      ),
    ),
    neg(
      'commitment: first byte xor 0x01',
      'commitment',
      mutate(
        base.envelope,
        flip(() => fh - 32, 0x01),
      ),
    ),
    neg(
      'nonce: first byte xor 0x01',
      'commitment',
      mutate(
        base.envelope,
        flip(() => fh - 44, 0x01),
      ),
    ),
    neg(
      'wrapped data key: last byte xor 0x01',
      'unwrap',
      mutate(
        base.envelope,
        flip(() => fh + 47 + base.policyId.length - 1, 0x01),
      ),
    ),
    neg(
      'key version changed (u32 at wrap section + 1 + policyLen, last byte xor 0x02)',
      'unwrap',
      mutate(
        base.envelope,
        flip(() => fh + 1 + base.policyId.length + 3, 0x02),
      ),
    ),
    neg(
      "policy id changed ('7' -> '8')",
      'unwrap',
      mutate(
        base.envelope,
        flip(() => fh + base.policyId.length, 0x0f),
      ),
    ),
    neg('wrong context (opened with a different value)', 'tag', base.envelope, {
      ...base,
      context: { ...base.context, object: 'doc-0002' },
    }),
    neg('wrong context (opened with an empty context)', 'tag', small.envelope, { ...small, context: {} }),
    neg('wrap section of another data key under the same KEK', 'commitment', swappedWrap, small),
    neg('sealed under another intermediate key', 'unwrap', otherIk.envelope, small),
    neg(
      'flags: reserved segmented-stream bit 0 set',
      'parse',
      mutate(
        base.envelope,
        flip(() => 4, 0x01),
      ),
    ),
    neg(
      'flags: unknown bit 7 set',
      'parse',
      mutate(
        base.envelope,
        flip(() => 4, 0x80),
      ),
    ),
    neg(
      'format version 2',
      'parse',
      mutate(
        base.envelope,
        flip(() => 2, 0x03),
      ),
    ),
    // The other suite's byte: it parses, but the other derivation gives another commitment.
    neg(
      `suite ${suite === 1 ? 2 : 1}`,
      'commitment',
      mutate(
        base.envelope,
        flip(() => 3, 0x03),
      ),
    ),
    neg(
      'bad magic',
      'parse',
      mutate(
        base.envelope,
        flip(() => 0, 0x01),
      ),
    ),
    neg(
      'wrappedLen 41',
      'parse',
      mutate(
        base.envelope,
        flip(() => fh + 1 + base.policyId.length + 4 + 1, 0x01),
      ),
    ),
    neg(
      'key version 0',
      'parse',
      mutate(small.envelope, (b) => {
        const c = Buffer.from(b);
        c.writeUInt32BE(0, smallFh + 1 + small.policyId.length);
        return c;
      }),
      small,
    ),
    neg(
      "tenant with an invalid character ('/')",
      'parse',
      mutate(small.envelope, (b) => {
        const c = Buffer.from(b);
        c[6 + 3] = 0x2f;
        return c;
      }),
      small,
    ),
    neg(
      'tenantLen 0',
      'parse',
      mutate(small.envelope, (b) => {
        const c = Buffer.from(b);
        c[5] = 0;
        return c;
      }),
      small,
    ),
    neg(
      'truncated: last byte removed (0-byte plaintext, so the tag is cut)',
      'parse',
      (positive[0] as Positive).envelope.slice(0, -2),
      positive[0] as Positive,
    ),
    neg('truncated: 16 bytes removed from a 100-byte plaintext envelope', 'tag', base.envelope.slice(0, -32)),
    neg('appended byte 0x00', 'tag', base.envelope + '00'),
    neg('empty input', 'parse', ''),
    neg('wrong tenant: a genuine envelope of contoso, opened for the tenant fabrikam', 'tenant', small.envelope, {
      ...small,
      tenant: 'fabrikam',
    }),
    ...[25, 31].map((n) =>
      neg(
        `data key of ${n} bytes under a valid KWP wrap (40 bytes; commitment and tag match that key)`,
        'data key length',
        sealWithDataKey(
          POSITIVE[1] as PositiveInput,
          IK_LABEL,
          fixedBytes(`short data key ${n}`, n),
          fixedBytes(`short nonce ${n}`, 12),
          suite,
        ),
        small,
      ),
    ),
    neg(
      'suite 3 (unknown)',
      'parse',
      mutate(base.envelope, (b) => {
        const c = Buffer.from(b);
        c[3] = 3;
        return c;
      }),
    ),
  ];

  return {
    format: suite === 1 ? 'unwrapd envelope v1 (single block)' : 'unwrapd envelope v1 (single block), suite 2',
    spec: 'docs/envelope-format.md',
    generator: suite === 1 ? 'scripts/gen-envelope-vectors.ts' : 'scripts/gen-envelope-suite2-vectors.ts',
    notes: [
      'All byte strings are lowercase hex. Every input of a positive vector is given: sealing with that data key',
      'and nonce must give exactly `envelope`; opening `envelope` (KEK derived from intermediateKey and the ids in',
      'the envelope) with `context` must give `plaintext`. Every negative vector must fail to open, with the',
      'KEK derived from intermediateKey and the ids found in the envelope (if it parses) and the given context,',
      'for the caller tenant `tenant` (an envelope of another tenant is refused before any key is used).',
    ],
    positive,
    negative,
  };
}

generateWhenRun(import.meta.url, OUT, buildVectors);
