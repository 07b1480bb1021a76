import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Typed errors as a client in any language reads them: `grpc-status-details-bin` decoded with the vendored
 * google/rpc protos (protobufjs, not src/rpc/error-details.ts), so a test checks the wire, not our encoder.
 */
export const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
const Status = root.lookupType('google.rpc.Status');
const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');

export interface DecodedErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

export interface DecodedStatus extends DecodedErrorInfo {
  code: number;
  message: string;
}

/** The google.rpc.ErrorInfo out of a google.rpc.Status's list of Any. */
export function errorInfoOf(details: Array<{ type_url: string; value: Uint8Array }>): DecodedErrorInfo {
  const any = details.find((d) => d.type_url === 'type.googleapis.com/google.rpc.ErrorInfo');
  if (!any) throw new Error('no ErrorInfo in the details');
  return ErrorInfo.toObject(ErrorInfo.decode(any.value), { defaults: true }) as DecodedErrorInfo;
}

/** The status a failed call carried, from its trailer only; checks it agrees with the gRPC status. */
export function decodeStatusDetails(err: grpc.ServiceError): DecodedStatus {
  const [bin] = err.metadata.get('grpc-status-details-bin');
  if (!Buffer.isBuffer(bin)) throw new Error(`no grpc-status-details-bin on ${err.code} ${err.details}`);
  const s = Status.toObject(Status.decode(bin), { defaults: true }) as {
    code: number;
    message: string;
    details: Array<{ type_url: string; value: Uint8Array }>;
  };
  if (s.code !== err.code || s.message !== err.details) throw new Error('Status differs from the gRPC status');
  return { code: s.code, message: s.message, ...errorInfoOf(s.details) };
}
