import fc from 'fast-check';
import { parseEnvelope } from '../../src/crypto/envelope-format.js';

/**
 * Mutations of single-block envelopes for the property tests: blind ones (bit flips, byte substitutions,
 * truncations, extensions, insertions, deletions, splices of two envelopes) and ones aimed at the format
 * (the length fields, the key version, relabelled tenant or policy ids, a field grafted from another
 * envelope). Positions are drawn as plain naturals and reduced modulo the current length when applied, so one
 * mutation arbitrary fits envelopes of every length and a chain of mutations stays cheap to generate.
 */

/** Where each field of a (well-formed) envelope lies, read once from the original. */
export interface Layout {
  tenantLen: number; // offset of the tenant length byte (5)
  tenant: [number, number];
  nonce: [number, number];
  commitment: [number, number];
  policyLen: number;
  policy: [number, number];
  version: number;
  wrappedLen: number;
  wrappedKey: [number, number];
  ciphertext: [number, number];
  tag: [number, number];
}

export function layoutOf(envelope: Buffer): Layout {
  const p = parseEnvelope(envelope);
  const at = (b: Buffer): [number, number] => [
    b.byteOffset - envelope.byteOffset,
    b.byteOffset - envelope.byteOffset + b.length,
  ];
  const policyLen = p.fixedHeader.length;
  const policyEnd = policyLen + 1 + p.policyId.length;
  return {
    tenantLen: 5,
    tenant: [6, 6 + p.tenant.length],
    nonce: at(p.nonce),
    commitment: at(p.commitment),
    policyLen,
    policy: [policyLen + 1, policyEnd],
    version: policyEnd,
    wrappedLen: policyEnd + 4,
    wrappedKey: at(p.wrappedKey),
    ciphertext: at(p.ciphertext),
    tag: at(p.tag),
  };
}

export type Graftable = 'tenant' | 'nonce' | 'commitment' | 'policy' | 'wrappedKey' | 'ciphertext' | 'tag';

export type Mutation =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'set'; pos: number; value: number }
  | { k: 'truncate'; cut: number }
  | { k: 'extend'; bytes: Uint8Array }
  | { k: 'insert'; pos: number; bytes: Uint8Array }
  | { k: 'delete'; pos: number; count: number }
  | { k: 'splice'; other: number; cutA: number; cutB: number }
  | { k: 'lengthByte'; which: 'tenantLen' | 'policyLen'; value: number }
  | { k: 'wrappedLen'; value: number }
  | { k: 'version'; value: number }
  | { k: 'relabel'; which: 'tenant' | 'policy'; id: string }
  | { k: 'graft'; other: number; field: Graftable };

/** Valid ids of several lengths (1, 2, 64 characters included), to relabel an envelope with. */
const IDS = [
  'a',
  'b',
  'A',
  '0',
  'ab',
  'a.b',
  'a_b',
  'a-b',
  'contoso',
  'fabrikam',
  'dep-a',
  'dep-b',
  'x'.repeat(63),
  'x'.repeat(64),
];

const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });

/** One mutation; `poolSize` envelopes can be spliced or grafted from. */
export function mutationArb(poolSize: number): fc.Arbitrary<Mutation> {
  const other = fc.nat({ max: poolSize - 1 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat({ max: 7 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('set' as const), pos: fc.nat(), value: fc.nat({ max: 255 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('truncate' as const), cut: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('extend' as const), bytes: bytes(48) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('insert' as const), pos: fc.nat(), bytes: bytes(16) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('delete' as const),
        pos: fc.nat(),
        count: fc.integer({ min: 1, max: 16 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('splice' as const), other, cutA: fc.nat(), cutB: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('lengthByte' as const),
        which: fc.constantFrom('tenantLen' as const, 'policyLen' as const),
        value: fc.oneof(
          fc.nat({ max: 255 }),
          fc.integer({ min: -3, max: 3 }).map((d) => 1000 + d),
        ), // >= 997: relative
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('wrappedLen' as const),
        value: fc.oneof(fc.nat({ max: 0xffff }), fc.integer({ min: 32, max: 48 })),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('version' as const),
        value: fc.oneof(
          fc.nat({ max: 0xffff_ffff }),
          fc.integer({ min: -2, max: 2 }).map((d) => 2 ** 33 + d),
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('relabel' as const),
        which: fc.constantFrom('tenant' as const, 'policy' as const),
        id: fc.constantFrom(...IDS),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('graft' as const),
        other,
        field: fc.constantFrom<Graftable>('tenant', 'nonce', 'commitment', 'policy', 'wrappedKey', 'ciphertext', 'tag'),
      }),
    },
  );
}

function replace(b: Buffer, [from, to]: [number, number], by: Uint8Array): Buffer {
  if (to > b.length) return b; // the field is gone (an earlier mutation shortened the envelope)
  return Buffer.concat([b.subarray(0, from), by, b.subarray(to)]);
}

/**
 * Applies one mutation to `b` (a copy when it changes bytes in place), where `layout` describes the original
 * envelope and `pool`/`layouts` the envelopes that can be spliced or grafted in.
 */
export function applyMutation(
  b: Buffer,
  m: Mutation,
  layout: Layout,
  pool: readonly Buffer[],
  layouts: readonly Layout[],
): Buffer {
  const n = b.length;
  switch (m.k) {
    case 'flip': {
      if (n === 0) return b;
      const c = Buffer.from(b);
      const i = m.pos % n;
      c[i] = (c[i] as number) ^ (1 << m.bit);
      return c;
    }
    case 'set': {
      if (n === 0) return b;
      const c = Buffer.from(b);
      c[m.pos % n] = m.value;
      return c;
    }
    case 'truncate':
      return b.subarray(0, m.cut % (n + 1));
    case 'extend':
      return Buffer.concat([b, m.bytes]);
    case 'insert': {
      const i = m.pos % (n + 1);
      return Buffer.concat([b.subarray(0, i), m.bytes, b.subarray(i)]);
    }
    case 'delete': {
      const i = m.pos % (n + 1);
      return Buffer.concat([b.subarray(0, i), b.subarray(i + m.count)]);
    }
    case 'splice': {
      const o = pool[m.other] as Buffer;
      return Buffer.concat([b.subarray(0, m.cutA % (n + 1)), o.subarray(m.cutB % (o.length + 1))]);
    }
    case 'lengthByte': {
      const i = layout[m.which];
      if (i >= n) return b;
      const c = Buffer.from(b);
      c[i] = m.value >= 997 ? ((c[i] as number) + m.value - 1000) & 0xff : m.value;
      return c;
    }
    case 'wrappedLen': {
      if (layout.wrappedLen + 2 > n) return b;
      const c = Buffer.from(b);
      c.writeUInt16BE(m.value, layout.wrappedLen);
      return c;
    }
    case 'version': {
      if (layout.version + 4 > n) return b;
      const c = Buffer.from(b);
      const v = m.value >= 2 ** 33 - 2 ? (c.readUInt32BE(layout.version) + m.value - 2 ** 33) >>> 0 : m.value;
      c.writeUInt32BE(v, layout.version);
      return c;
    }
    case 'relabel': {
      // A consistent relabelling: the id and its length byte both change, so the envelope still parses.
      const [from, to] = layout[m.which];
      if (to > n) return b;
      const id = Buffer.from(m.id, 'latin1');
      return Buffer.concat([b.subarray(0, from - 1), Buffer.from([id.length]), id, b.subarray(to)]);
    }
    case 'graft': {
      const o = pool[m.other] as Buffer;
      const [from, to] = (layouts[m.other] as Layout)[m.field];
      return replace(b, layout[m.field], o.subarray(from, to));
    }
  }
}
