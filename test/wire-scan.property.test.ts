import test from 'ava';
import fc from 'fast-check';
import type * as protoLoader from '@grpc/proto-loader';
import { loadProto } from '../src/rpc/proto.js';
import { cryptoRequestLimits, requestScanner, scanLimits, type RequestScanner } from '../src/server/request-limits.js';
import { compileRequestRule } from '../src/server/wire-schema.js';
import { WireRefusal } from '../src/server/wire-scan.js';
import { fuzzRuns } from './helpers/fuzz.js';
import { lenField, varint, varintField } from './helpers/proto-wire.js';

// The wire scan against protobufjs: whatever valid message protobufjs encodes, the scan accepts with the right
// counts; whatever bytes it is given (random, or a valid message mutated), it accepts or refuses with a
// WireRefusal, never throws, and what it accepts protobufjs decodes without an error, to what was counted.
const settings = { maxBlockBytes: 4096, batchMaxItems: 16, batchMaxBytes: 8192 };
const { definition, proto } = loadProto();
const service = proto.unwrapd.v1.Crypto.service;
const limits = cryptoRequestLimits(settings);

interface Method {
  scan: RequestScanner;
  serialize(value: object): Buffer;
  deserialize(bytes: Buffer): Record<string, unknown>;
}
const methods: Record<string, Method> = {};
for (const [name, m] of Object.entries(service)) {
  const rule = compileRequestRule(
    m as unknown as protoLoader.MethodDefinition<object, object>,
    definition,
    limits[name]!.annotations,
  );
  methods[name] = {
    scan: requestScanner(name, rule, limits[name]!, scanLimits(settings)),
    serialize: m.requestSerialize as (v: object) => Buffer,
    deserialize: m.requestDeserialize as (b: Buffer) => Record<string, unknown>,
  };
}

// Strings of whole code points (well-formed), so UTF-8 round-trips; '__proto__' is no use as a map key here.
const str = (maxLength: number) => fc.string({ unit: 'binary', maxLength });
const context = fc.dictionary(
  str(12).filter((k) => k !== '__proto__'),
  str(12),
  { maxKeys: 32 },
);
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));
const purpose = fc.constantFrom('PURPOSE_UNSPECIFIED', 'PURPOSE_USER', 'PURPOSE_SYSTEM');
const header = fc.record({ tenant: str(20), policyId: str(20), context, purpose, requestId: str(20) });

const requests: Record<string, fc.Arbitrary<object>> = {
  Encrypt: fc.record({
    tenant: str(20),
    policyId: str(20),
    plaintext: bytes(256),
    context,
    purpose,
    requestId: str(20),
  }),
  Decrypt: fc.record({ tenant: str(20), envelope: bytes(256), context, purpose, requestId: str(20) }),
  Rewrap: fc.record({
    tenant: str(20),
    envelope: bytes(256),
    context,
    targetPolicyId: str(20),
    purpose,
    requestId: str(20),
  }),
  EncryptBatch: fc.record({
    tenant: str(20),
    policyId: str(20),
    items: fc.array(fc.record({ plaintext: bytes(200), context }), { maxLength: 16 }),
    purpose,
    requestId: str(20),
  }),
  DecryptBatch: fc.record({
    tenant: str(20),
    items: fc.array(fc.record({ envelope: bytes(200), context }), { maxLength: 16 }),
    purpose,
    requestId: str(20),
  }),
  EncryptStream: fc.oneof(
    header.map((h) => ({ header: h })),
    bytes(512).map((chunk) => ({ chunk })),
  ),
  DecryptStream: fc.oneof(
    header.map((h) => ({ header: h })),
    bytes(512).map((chunk) => ({ chunk })),
  ),
};
const anyRequest = fc
  .constantFrom(...Object.keys(requests))
  .chain((method) => requests[method]!.map((value) => ({ method, value })));

type Decoded = {
  items?: { context?: Record<string, string>; plaintext?: Buffer; envelope?: Buffer }[];
  context?: Record<string, string>;
  header?: { context?: Record<string, string> };
};

/** What the scan should have counted, from protobufjs's decoding. */
function expected(decoded: Decoded) {
  const entries = (c: Record<string, string> | undefined) => Object.keys(c ?? {}).length;
  const items = decoded.items ?? [];
  return {
    items: items.length,
    mapEntries:
      entries(decoded.context) + entries(decoded.header?.context) + items.reduce((n, i) => n + entries(i.context), 0),
    payload: items.reduce((n, i) => n + (i.plaintext ?? i.envelope ?? Buffer.alloc(0)).length, 0),
  };
}

test('every valid request protobufjs encodes is accepted, with counts that match the decoded message', (t) => {
  fc.assert(
    fc.property(anyRequest, ({ method, value }) => {
      const m = methods[method]!;
      const encoded = m.serialize(value);
      const counts = m.scan(encoded);
      if (counts instanceof WireRefusal) throw new Error(`refused a valid ${method}: ${counts.message}`);
      t.deepEqual(counts, expected(m.deserialize(encoded) as Decoded));
    }),
    { numRuns: fuzzRuns(400) },
  );
});

/** Mutations of a valid encoding: byte flips, insertions, deletions, truncation, duplicated slices. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.nat(8) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), value: fc.nat(16) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === 'flip' && at < b.length) b[at] = m.value;
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + m.value)]);
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'repeat') b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + m.value), b.subarray(at)]);
  }
  return b;
}

/** The property for any bytes: a typed refusal, or an acceptance protobufjs agrees with. */
function check(method: string, bytes: Buffer): void {
  const m = methods[method]!;
  let counts: ReturnType<RequestScanner>;
  try {
    counts = m.scan(bytes);
  } catch (err) {
    throw new Error(`the scan threw on ${method} ${bytes.toString('hex')}: ${String(err)}`);
  }
  if (counts instanceof WireRefusal) {
    if (counts.code !== 'invalid_argument' && counts.code !== 'resource_exhausted')
      throw new Error(`bad refusal code ${counts.code}`);
    if (!counts.message.startsWith(`${method}: `))
      throw new Error(`refusal does not name the method: ${counts.message}`);
    return;
  }
  let decoded: Decoded;
  try {
    decoded = m.deserialize(bytes) as Decoded;
  } catch (err) {
    throw new Error(`accepted ${method} ${bytes.toString('hex')}, which protobufjs cannot decode: ${String(err)}`);
  }
  const want = expected(decoded);
  if (want.items !== counts.items || want.mapEntries !== counts.mapEntries || want.payload !== counts.payload) {
    throw new Error(
      `accepted ${method} ${bytes.toString('hex')} with counts ${JSON.stringify(counts)}, protobufjs decoded ${JSON.stringify(want)}`,
    );
  }
}

test('mutated valid requests: refused with a typed refusal, or accepted and decoded by protobufjs to what was counted', (t) => {
  fc.assert(
    fc.property(anyRequest, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ method, value }, ms) => {
      check(method, mutate(methods[method]!.serialize(value), ms));
    }),
    { numRuns: fuzzRuns(2000) },
  );
  t.pass();
});

test('random bytes: refused with a typed refusal, or accepted and decoded by protobufjs to what was counted', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(methods)), fc.uint8Array({ maxLength: 300 }), (method, b) => {
      check(method, Buffer.from(b));
    }),
    { numRuns: fuzzRuns(2000) },
  );
  t.pass();
});

test('structured noise: random fields of every wire type and number, nested, so the scan meets plausible shapes', (t) => {
  const field: fc.Arbitrary<Buffer> = fc.letrec<{ field: Buffer }>((tie) => ({
    field: fc.oneof(
      { depthSize: 'small' },
      fc
        .tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
        .map(([no, v]) => varintField(no, v)),
      fc.tuple(fc.integer({ min: 0, max: 12 }), bytes(12)).map(([no, b]) => lenField(no, b)),
      fc
        .tuple(fc.integer({ min: 0, max: 12 }), fc.array(tie('field'), { maxLength: 4 }))
        .map(([no, fs]) => lenField(no, Buffer.concat(fs))),
      fc
        .tuple(fc.integer({ min: 0, max: 12 }), fc.constantFrom(1, 3, 4, 5, 6, 7))
        .map(([no, wt]) => Buffer.concat([varint((no << 3) | wt), Buffer.alloc(8)])),
    ),
  })).field;
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(methods)), fc.array(field, { maxLength: 8 }), (method, fs) => {
      check(method, Buffer.concat(fs));
    }),
    { numRuns: fuzzRuns(2000) },
  );
  t.pass();
});
