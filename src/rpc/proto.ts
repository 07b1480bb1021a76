import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType as AdminProto } from '../generated/admin.js';
import type { ProtoGrpcType as CryptoProto } from '../generated/crypto.js';
import { CONVERSION_OPTIONS, KEEP_CASE } from './loader-options.js';

/** proto/ at the package root, from src/rpc/ or dist/rpc/ alike. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
export const PROTO_FILES = ['unwrapd/v1/crypto.proto', 'unwrapd/v1/admin.proto'];

/** Loader options: they must match the flags of scripts/gen-proto.mjs, which types the messages. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: KEEP_CASE,
  ...CONVERSION_OPTIONS,
  includeDirs: [PROTO_DIR],
};

/**
 * The daemon's package definition, parsed from the .proto files: the server needs each message's descriptor
 * (reflection, src/server/wire-schema.ts). The client needs none and loads src/rpc/client-services.ts instead.
 */
let cached: { definition: protoLoader.PackageDefinition; proto: CryptoProto & AdminProto } | undefined;

export function loadProto(): { definition: protoLoader.PackageDefinition; proto: CryptoProto & AdminProto } {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
    const proto = grpc.loadPackageDefinition(definition) as unknown as CryptoProto & AdminProto;
    cached = { definition, proto };
  }
  return cached;
}
