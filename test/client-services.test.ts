import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { UNWRAPD_V1 } from '../src/generated/descriptors.js';
import { clientServices, serviceDefinition } from '../src/rpc/client-services.js';
import { LOADER_OPTIONS, PROTO_FILES } from '../src/rpc/proto.js';

/**
 * The client builds its service definitions from the generated descriptors (src/generated/descriptors.ts), the
 * daemon with proto-loader from the .proto files (src/rpc/proto.ts). Held to the same wire and the same objects:
 * every method has the same path, streaming and name; every message type the same structure (proto-loader's own
 * descriptor of it); a request or response filled in every field serializes to the same bytes both ways and
 * reads back as the same object. (test/proto-generated.test.ts checks that the descriptors are those of proto/.)
 */
const reference = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
const root = protobuf.Root.fromJSON(UNWRAPD_V1);

type Method = protoLoader.MethodDefinition<object, object> & {
  requestType: protoLoader.MessageTypeDefinition<object, object>;
  responseType: protoLoader.MessageTypeDefinition<object, object>;
};

/** A value for every field of `type` (each oneof: its first member; depth-limited for recursive types). */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const taken = new Set<string>();
  for (const field of type.fieldsArray) {
    field.resolve();
    if (field.partOf && !field.partOf.name.startsWith('_')) {
      if (taken.has(field.partOf.name)) continue;
      taken.add(field.partOf.name);
    }
    const one = (i: number): unknown => {
      if (field.resolvedType instanceof protobuf.Enum) {
        const names = Object.keys(field.resolvedType.values);
        return names[(i + 1) % names.length];
      }
      if (field.resolvedType instanceof protobuf.Type) return depth < 3 ? sample(field.resolvedType, depth + 1) : {};
      switch (field.type) {
        case 'string':
          return `${field.name}-${i}-é`;
        case 'bytes':
          return Buffer.from([i + 1, 0, 255]);
        case 'bool':
          return true;
        case 'double':
        case 'float':
          return 1.5 + i;
        case 'int64':
        case 'uint64':
        case 'sint64':
        case 'fixed64':
        case 'sfixed64':
          return String(9007199254740993n + BigInt(i)); // beyond 2^53: exact only as a string
        default:
          return 7 + i;
      }
    };
    if (field instanceof protobuf.MapField) out[field.name] = { a: one(0), b: one(1) };
    else if (field.repeated) out[field.name] = [one(0), one(1)];
    else out[field.name] = one(0);
  }
  return out;
}

for (const service of ['Crypto', 'Admin']) {
  test(`${service}: the client's definition is proto-loader's (paths, streaming, names, types, bytes, objects)`, (t) => {
    const expected = reference[`unwrapd.v1.${service}`] as unknown as Record<string, Method>;
    const actual = serviceDefinition(root, service);
    t.deepEqual(Object.keys(actual), Object.keys(expected));
    let fields = 0;
    for (const [name, want] of Object.entries(expected)) {
      const got = actual[name]!;
      t.is(got.path, want.path, name);
      t.is(got.requestStream, want.requestStream, name);
      t.is(got.responseStream, want.responseStream, name);
      t.is(got.originalName, want.originalName, name);
      const method = root.lookupService(`unwrapd.v1.${service}`).methods[name]!;
      method.resolve();
      for (const [side, type, wantType] of [
        ['request', method.resolvedRequestType!, want.requestType],
        ['response', method.resolvedResponseType!, want.responseType],
      ] as const) {
        // toDescriptor: protobufjs/ext/descriptor, which proto-loader loads, as it does for its own definitions.
        const descriptor = (type as unknown as { toDescriptor(syntax: string): object }).toDescriptor('proto3');
        const asObject = (descriptor as { $type: protobuf.Type }).$type.toObject(descriptor as protobuf.Message, {
          longs: String,
          enums: String,
          bytes: String,
          defaults: true,
          oneofs: true,
          json: true,
        });
        t.deepEqual(asObject, wantType.type, `${name} ${side}: the same message structure`);
        const value = sample(type);
        fields += Object.keys(value).length;
        const [serialize, deserialize, wantSerialize, wantDeserialize] =
          side === 'request'
            ? [got.requestSerialize, got.requestDeserialize, want.requestSerialize, want.requestDeserialize]
            : [got.responseSerialize, got.responseDeserialize, want.responseSerialize, want.responseDeserialize];
        const bytes = serialize(value);
        t.deepEqual(Buffer.from(bytes), Buffer.from(wantSerialize(value)), `${name} ${side}: the same bytes`);
        t.deepEqual(deserialize(bytes), wantDeserialize(bytes), `${name} ${side}: the same object`);
        t.deepEqual(deserialize(Buffer.alloc(0)), wantDeserialize(Buffer.alloc(0)), `${name} ${side}: defaults`);
      }
    }
    t.true(fields > 20, `the samples fill fields (${fields})`);
  });
}

test('the client constructors make grpc-js clients with every method, by both names', (t) => {
  const { Crypto, Admin } = clientServices();
  const crypto = new Crypto('unix:///nonexistent.sock', grpc.credentials.createInsecure());
  const admin = new Admin('unix:///nonexistent.sock', grpc.credentials.createInsecure());
  try {
    t.true(crypto instanceof grpc.Client);
    t.is(typeof crypto.Encrypt, 'function');
    t.is(crypto.encrypt, crypto.Encrypt);
    t.is(typeof admin.GetStatus, 'function');
    t.is(admin.getStatus, admin.GetStatus);
  } finally {
    crypto.close();
    admin.close();
  }
});
