import protobuf from 'protobufjs/light.js';
import { GOOGLE_RPC } from '../generated/descriptors.js';

/**
 * google.rpc.Status and google.rpc.ErrorInfo (the vendored proto/google/rpc/*.proto) on the wire: every non-OK
 * status the daemon sends carries a serialized Status in the `grpc-status-details-bin` trailer, its details one
 * Any(ErrorInfo) with the error's reason (docs/api.md, "Errors"). The types are made once, on first use, from
 * the descriptors scripts/gen-proto.mjs generates from those files (field names as written): only a failed call
 * encodes or decodes anything here.
 */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
/** ErrorInfo.domain of every error the daemon sends. */
export const ERROR_DOMAIN = 'unwrapd.v1';
export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** A google.rpc.Status; `details` keeps only what is understood here (ErrorInfo). */
export interface RpcStatus {
  code: number;
  message: string;
  errorInfo?: ErrorInfo;
}

let types: { Status: protobuf.Type; ErrorInfo: protobuf.Type } | undefined;

/** The two message types, made on first use: a call that succeeds (and a CLI command whose calls do) needs neither. */
function rpcTypes(): { Status: protobuf.Type; ErrorInfo: protobuf.Type } {
  if (!types) {
    const root = protobuf.Root.fromJSON(GOOGLE_RPC);
    types = { Status: root.lookupType('google.rpc.Status'), ErrorInfo: root.lookupType('google.rpc.ErrorInfo') };
  }
  return types;
}

/** ErrorInfo bytes (the `value` of its Any). */
export function encodeErrorInfo(info: ErrorInfo): Uint8Array {
  const { ErrorInfo: ErrorInfoType } = rpcTypes();
  return ErrorInfoType.encode(ErrorInfoType.fromObject(info)).finish();
}

/** A serialized google.rpc.Status with one Any(ErrorInfo): the value of the `grpc-status-details-bin` trailer. */
export function encodeStatus(code: number, message: string, info: ErrorInfo): Buffer {
  const { Status: StatusType } = rpcTypes();
  const status = StatusType.fromObject({
    code,
    message,
    details: [{ type_url: ERROR_INFO_TYPE_URL, value: encodeErrorInfo(info) }],
  });
  const bytes = StatusType.encode(status).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The ErrorInfo in a list of Any (a Status's details), or undefined. */
export function findErrorInfo(
  details: ReadonlyArray<{ typeUrl?: string; type_url?: string; value?: Uint8Array | null }>,
) {
  for (const any of details) {
    const url = any.typeUrl ?? any.type_url ?? '';
    if (!url.endsWith('/google.rpc.ErrorInfo') || !any.value) continue;
    try {
      return decodeErrorInfo(any.value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  const { ErrorInfo: ErrorInfoType } = rpcTypes();
  const m = ErrorInfoType.toObject(ErrorInfoType.decode(bytes), { defaults: true }) as ErrorInfo;
  return { reason: m.reason, domain: m.domain, metadata: { ...m.metadata } };
}

/** A `grpc-status-details-bin` value decoded; undefined when it is not a well-formed Status. */
export function decodeStatus(bytes: Uint8Array): RpcStatus | undefined {
  try {
    const { Status: StatusType } = rpcTypes();
    const m = StatusType.toObject(StatusType.decode(bytes), { defaults: true }) as {
      code: number;
      message: string;
      details: Array<{ type_url: string; value: Uint8Array }>;
    };
    const errorInfo = findErrorInfo(m.details);
    return { code: m.code, message: m.message, ...(errorInfo ? { errorInfo } : {}) };
  } catch {
    return undefined;
  }
}
