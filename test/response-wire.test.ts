import test from 'ava';
import fc from 'fast-check';
import type * as grpc from '@grpc/grpc-js';
import { loadProto } from '../src/rpc/proto.js';
import { withResponseEncoders } from '../src/server/response-wire.js';

// The hand-written response encoders of the stream and batch methods (src/server/response-wire.ts) against the
// generated decoders: whatever they write, protobufjs reads back as the same message.

const generated = loadProto().proto.unwrapd.v1.Crypto.service as unknown as Record<
  string,
  grpc.MethodDefinition<unknown, unknown>
>;
const fast = withResponseEncoders(generated as unknown as grpc.ServiceDefinition) as unknown as Record<
  string,
  grpc.MethodDefinition<unknown, unknown>
>;
const decode = (method: string, bytes: Buffer) => fast[method]!.responseDeserialize(bytes) as Record<string, unknown>;
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const version = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff }));

test('EncryptStream responses: one buffer or [ciphertext, tag] decode as the joined bytes and the key version', (t) => {
  fc.assert(
    fc.property(fc.array(bytes, { minLength: 1, maxLength: 3 }), version, (parts, keyVersion) => {
      const data = parts.length === 1 ? parts[0]! : parts;
      const out = decode('EncryptStream', fast.EncryptStream!.responseSerialize({ data, keyVersion }));
      t.deepEqual(out.data, Buffer.concat(parts));
      t.is(out.keyVersion, keyVersion);
    }),
  );
});

test('DecryptStream responses decode as the same plaintext, policy id and key version', (t) => {
  fc.assert(
    fc.property(
      bytes,
      fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
      version,
      (plaintext, policyId, keyVersion) => {
        const msg = { plaintext, ...(policyId === undefined ? {} : { policyId }), keyVersion };
        const out = decode('DecryptStream', fast.DecryptStream!.responseSerialize(msg));
        t.deepEqual(out.plaintext, plaintext);
        t.is(out.policyId, policyId ?? '');
        t.is(out.keyVersion, keyVersion);
      },
    ),
  );
});

test('a large segment in parts is encoded in one message of the exact size', (t) => {
  const ct = Buffer.alloc(64 * 1024, 7);
  const tag = Buffer.alloc(16, 9);
  const wire = fast.EncryptStream!.responseSerialize({ data: [ct, tag], keyVersion: 3 });
  const reference = generated.EncryptStream!.responseSerialize({ data: Buffer.concat([ct, tag]), keyVersion: 3 });
  t.deepEqual(wire, reference); // the same bytes protobufjs writes for the joined segment
});

test('a response of another shape goes to the generated encoder; parts of an unknown shape fail the call', (t) => {
  // The generated encoder behind a spy: which encoder ran is seen, not only the bytes.
  const seen: unknown[] = [];
  const spied = withResponseEncoders({
    ...generated,
    EncryptStream: {
      ...generated.EncryptStream!,
      responseSerialize: (m: unknown) => (seen.push(m), generated.EncryptStream!.responseSerialize(m)),
    },
  } as unknown as grpc.ServiceDefinition) as unknown as Record<string, grpc.MethodDefinition<unknown, unknown>>;
  const other = { data: Buffer.from('abc'), keyVersion: 1, extra: 'x' };
  t.deepEqual(spied.EncryptStream!.responseSerialize(other), generated.EncryptStream!.responseSerialize(other));
  t.deepEqual(seen, [other], 'the generated encoder wrote it');
  spied.EncryptStream!.responseSerialize({ data: [Buffer.from('a'), Buffer.from('b')], keyVersion: 1 });
  t.is(seen.length, 1, 'parts of the layout never reach the generated encoder');
  t.throws(() => fast.EncryptStream!.responseSerialize({ data: [Buffer.from('a'), 'b'], keyVersion: 1 }));
  t.throws(() => fast.EncryptStream!.responseSerialize({ data: [Buffer.from('a')], keyVersion: -1 }));
  t.throws(() => fast.DecryptStream!.responseSerialize({ plaintext: [Buffer.from('a')], policyId: 7 }));
  t.throws(() => fast.DecryptStream!.responseSerialize({ plaintext: [Buffer.from('a')], extra: 1 }));
  // Other methods keep their generated encoders.
  t.is(fast.Encrypt!.responseSerialize, generated.Encrypt!.responseSerialize);
});

test('batch responses of ok items decode as the same results, in order', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ envelope: bytes, keyVersion: version }), { maxLength: 20 }),
      fc.array(fc.record({ plaintext: bytes, policyId: fc.string({ maxLength: 40 }), keyVersion: version }), {
        maxLength: 20,
      }),
      (enc, dec) => {
        const e = { results: enc.map((ok) => ({ ok })) };
        const outE = decode('EncryptBatch', fast.EncryptBatch!.responseSerialize(e)) as {
          results: { ok: Record<string, unknown> }[];
        };
        t.deepEqual(
          outE.results.map((r) => r.ok.envelope),
          enc.map((x) => x.envelope),
        );
        t.deepEqual(
          outE.results.map((r) => r.ok.keyVersion),
          enc.map((x) => x.keyVersion),
        );
        const d = { results: dec.map((ok) => ({ ok })) };
        const outD = decode('DecryptBatch', fast.DecryptBatch!.responseSerialize(d)) as {
          results: { ok: Record<string, unknown> }[];
        };
        t.deepEqual(
          outD.results.map((r) => r.ok),
          dec,
        );
      },
    ),
  );
});

test('a batch with an item error goes to the generated encoder, byte for byte', (t) => {
  const res = {
    results: [
      { ok: { envelope: Buffer.from('env'), keyVersion: 2 } },
      { error: { code: 3, message: 'decryption failed' } },
    ],
  };
  t.deepEqual(fast.EncryptBatch!.responseSerialize(res), generated.EncryptBatch!.responseSerialize(res));
  const one = { results: [{ ok: { envelope: Buffer.alloc(4096, 1), keyVersion: 7 } }] };
  t.deepEqual(fast.EncryptBatch!.responseSerialize(one), generated.EncryptBatch!.responseSerialize(one));
});

test('a service without one of the methods is refused: its responses would not be encoded as parts', (t) => {
  const { EncryptBatch: _dropped, ...rest } = generated;
  t.throws(() => withResponseEncoders(rest as unknown as grpc.ServiceDefinition), { message: /EncryptBatch/ });
});
