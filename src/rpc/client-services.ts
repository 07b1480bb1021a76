import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';
import type { AdminClient } from '../generated/unwrapd/v1/Admin.js';
import type { CryptoClient } from '../generated/unwrapd/v1/Crypto.js';
import { UNWRAPD_V1 } from '../generated/descriptors.js';
import { CONVERSION_OPTIONS } from './loader-options.js';

/**
 * The client's constructors for the Crypto and Admin services, built from the descriptors scripts/gen-proto.mjs
 * generates from proto/ (src/generated/descriptors.ts) rather than by parsing the .proto files with proto-loader
 * at run time, which is most of a CLI command's start-up. Each method serializes and deserializes as
 * proto-loader's would (same protobufjs calls, same conversion options: src/rpc/loader-options.ts);
 * test/client-services.test.ts holds the two to the same bytes and objects. Message types are compiled by
 * protobufjs on first use, so a command pays only for the messages it sends and receives.
 */
export type ClientConstructor<C> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => C;

export interface ClientServices {
  Crypto: ClientConstructor<CryptoClient>;
  Admin: ClientConstructor<AdminClient>;
}

const PACKAGE = 'unwrapd.v1';
let cached: ClientServices | undefined;

export function clientServices(): ClientServices {
  if (!cached) {
    const root = protobuf.Root.fromJSON(UNWRAPD_V1);
    cached = {
      Crypto: clientConstructor(root, 'Crypto') as unknown as ClientConstructor<CryptoClient>,
      Admin: clientConstructor(root, 'Admin') as unknown as ClientConstructor<AdminClient>,
    };
  }
  return cached;
}

/** The method definitions of one service, as proto-loader makes them (without the message descriptors). */
export function serviceDefinition(root: protobuf.Root, service: string): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of root.lookupService(`${PACKAGE}.${service}`).methodsArray) {
    method.resolve();
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    definition[method.name] = {
      path: `/${PACKAGE}.${service}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return definition;
}

function clientConstructor(root: protobuf.Root, service: string): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(serviceDefinition(root, service), service);
}

function serializer(type: protobuf.Type) {
  return (value: object): Buffer => {
    if (Array.isArray(value))
      throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
}

function deserializer(type: protobuf.Type) {
  return (bytes: Buffer): object => type.toObject(type.decode(bytes), CONVERSION_OPTIONS);
}
