import type * as grpc from '@grpc/grpc-js';
import type { ItemError__Output } from '../generated/unwrapd/v1/ItemError.js';
import { decodeStatus, findErrorInfo, STATUS_DETAILS_KEY, type ErrorInfo } from '../rpc/error-details.js';

export type { ErrorInfo } from '../rpc/error-details.js';

/**
 * What the client reads of an error's google.rpc.Status details (docs/api.md, "Errors"): `reason`, the stable
 * ErrorInfo reason (POLICY_REVOKED, LIMIT_EXCEEDED...), and `errorInfo` with its domain and metadata (tenant,
 * policy_id, limit...). Both are undefined when the status carried no details (one made by the gRPC library
 * itself: a deadline passed on the client side, a connection that failed). On a ServiceError, `metadata` stays
 * what grpc-js makes it (the trailers): the ErrorInfo's metadata is `errorInfo.metadata`.
 */
export interface ErrorDetails {
  reason?: string;
  errorInfo?: ErrorInfo;
}

export type UnwrapdServiceError = grpc.ServiceError & ErrorDetails;

/** A batch item's error, with the reason and ErrorInfo of its `status`. */
export type BatchItemError = ItemError__Output & ErrorDetails;

/** Adds `reason` and `errorInfo` to a grpc-js error from its `grpc-status-details-bin` trailer; returns it. */
export function withErrorDetails<E>(err: E): E & ErrorDetails {
  const e = err as E & ErrorDetails & { metadata?: grpc.Metadata };
  if (e === null || typeof e !== 'object' || e.reason !== undefined) return e;
  const bin = typeof e.metadata?.get === 'function' ? e.metadata.get(STATUS_DETAILS_KEY)[0] : undefined;
  const info = Buffer.isBuffer(bin) ? decodeStatus(bin)?.errorInfo : undefined;
  if (info) Object.assign(e, { reason: info.reason, errorInfo: info });
  return e;
}

/** Adds `reason` and `errorInfo` to a batch item's error from its `status` details; returns it. */
export function itemErrorDetails(error: ItemError__Output): BatchItemError {
  const info = error.status ? findErrorInfo(error.status.details) : undefined;
  return info ? Object.assign(error, { reason: info.reason, errorInfo: info }) : error;
}
