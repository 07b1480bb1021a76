import * as grpc from '@grpc/grpc-js';
import type { CreatePolicyRequest } from '../generated/unwrapd/v1/CreatePolicyRequest.js';
import type { DecryptRequest } from '../generated/unwrapd/v1/DecryptRequest.js';
import type { DecryptResponse__Output } from '../generated/unwrapd/v1/DecryptResponse.js';
import type { EncryptRequest } from '../generated/unwrapd/v1/EncryptRequest.js';
import type { EncryptResponse__Output } from '../generated/unwrapd/v1/EncryptResponse.js';
import type { ItemError__Output } from '../generated/unwrapd/v1/ItemError.js';
import type { EvictRequest } from '../generated/unwrapd/v1/EvictRequest.js';
import type { EvictResponse__Output } from '../generated/unwrapd/v1/EvictResponse.js';
import type { AdminClient } from '../generated/unwrapd/v1/Admin.js';
import type { CryptoClient } from '../generated/unwrapd/v1/Crypto.js';
import type { ListPoliciesResponse__Output } from '../generated/unwrapd/v1/ListPoliciesResponse.js';
import type { Policy__Output } from '../generated/unwrapd/v1/Policy.js';
import type { Status__Output } from '../generated/unwrapd/v1/Status.js';
import type { PurgeReceipt__Output } from '../generated/unwrapd/v1/PurgeReceipt.js';
import type { PurgeRequest } from '../generated/unwrapd/v1/PurgeRequest.js';
import type { RefreshRequest } from '../generated/unwrapd/v1/RefreshRequest.js';
import type { RevokeRequest } from '../generated/unwrapd/v1/RevokeRequest.js';
import type { RewrapRequest } from '../generated/unwrapd/v1/RewrapRequest.js';
import type { RewrapResponse__Output } from '../generated/unwrapd/v1/RewrapResponse.js';
import type { RollKeyRequest } from '../generated/unwrapd/v1/RollKeyRequest.js';
import type { RotateIntermediateKeyRequest } from '../generated/unwrapd/v1/RotateIntermediateKeyRequest.js';
import type { DecryptBatchRequest } from '../generated/unwrapd/v1/DecryptBatchRequest.js';
import type { DecryptBatchResponse__Output } from '../generated/unwrapd/v1/DecryptBatchResponse.js';
import type { DecryptStreamResponse__Output } from '../generated/unwrapd/v1/DecryptStreamResponse.js';
import type { EncryptBatchRequest } from '../generated/unwrapd/v1/EncryptBatchRequest.js';
import type { EncryptBatchResponse__Output } from '../generated/unwrapd/v1/EncryptBatchResponse.js';
import type { EncryptStreamResponse__Output } from '../generated/unwrapd/v1/EncryptStreamResponse.js';
import type { StreamHeader } from '../generated/unwrapd/v1/StreamHeader.js';
import { clientServices } from '../rpc/client-services.js';
import { ContentStream, type StreamCallOpts, type StreamSource } from './content-stream.js';
import { itemErrorDetails, withErrorDetails, type BatchItemError } from './error-info.js';
import { checkWellFormed } from './well-formed.js';

export { ContentStream, type StreamCallOpts, type StreamSource } from './content-stream.js';
export type { BatchItemError, ErrorDetails, ErrorInfo, UnwrapdServiceError } from './error-info.js';

/** A batch response whose item errors carry `reason` and `errorInfo` (from their google.rpc.Status). */
export type WithItemDetails<R extends { results: Array<{ error?: unknown }> }> = Omit<R, 'results'> & {
  results: Array<Omit<R['results'][number], 'error'> & { error?: BatchItemError | null }>;
};

export interface ClientOptions {
  /** Default deadline of each call. Default 30 s. */
  deadlineMs?: number;
  /** Largest message in either direction. Default 8 MiB (a 4 MiB block with room). */
  maxMessageBytes?: number;
  credentials?: grpc.ChannelCredentials;
  /**
   * The daemon's admin listener (Admin service). Default: `address` itself, which serves only Crypto unless
   * the daemon is configured otherwise, so Admin calls need this set (the CLI finds it: src/cli/options.ts).
   */
  adminAddress?: string;
  /** Credentials for the admin listener; default `credentials`. */
  adminCredentials?: grpc.ChannelCredentials;
  /**
   * The client's HTTP/2 receive window per call and per connection (grpc-js's `grpc-node.flow_control_window`):
   * how many response bytes the daemon may send ahead of this client taking them. Default: HTTP/2's 65,535.
   * Do not raise it against a daemon whose `http2ConnectionWindowBytes` is raised too: with both windows large
   * the connection can stall, both ends writing and neither reading (bench/README.md, "The HTTP/2 flow-control
   * window"). The throughput benchmark sets it to measure that.
   */
  receiveWindowBytes?: number;
}

export interface CallOpts {
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: Callback<Res>,
) => grpc.ClientUnaryCall;

/**
 * A typed client for unwrapd (the CLI, the tests and the benchmarks use it). `address` is the daemon's data
 * listener (Crypto): `unix:///path/to.sock` or `host:port`; `opts.adminAddress` its admin listener (Admin).
 * Errors are grpc ServiceErrors with `code` and `details`, plus `reason` and `errorInfo` (the ErrorInfo of the
 * status details: src/client/error-info.ts); batch item errors carry the same two.
 */
export class UnwrapdClient {
  readonly crypto: CryptoClient;
  readonly admin: AdminClient;
  readonly #deadlineMs: number;

  constructor(address: string, opts: ClientOptions = {}) {
    const services = clientServices();
    const max = opts.maxMessageBytes ?? 8 * 1024 * 1024;
    const channelOptions = {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      ...(opts.receiveWindowBytes ? { 'grpc-node.flow_control_window': opts.receiveWindowBytes } : {}),
    };
    const credentials = opts.credentials ?? grpc.credentials.createInsecure();
    this.crypto = new services.Crypto(address, credentials, channelOptions);
    this.admin =
      opts.adminAddress && opts.adminAddress !== address
        ? new services.Admin(opts.adminAddress, opts.adminCredentials ?? credentials, channelOptions)
        : // One address for both: share the channel.
          new services.Admin(address, credentials, {
            ...channelOptions,
            channelOverride: this.crypto.getChannel(),
          });
    this.#deadlineMs = opts.deadlineMs ?? 30_000;
  }

  encrypt(req: EncryptRequest, opts?: CallOpts): Promise<EncryptResponse__Output> {
    return this.#call(
      this.crypto,
      this.crypto.Encrypt as UnaryMethod<EncryptRequest, EncryptResponse__Output>,
      req,
      opts,
    );
  }

  decrypt(req: DecryptRequest, opts?: CallOpts): Promise<DecryptResponse__Output> {
    return this.#call(
      this.crypto,
      this.crypto.Decrypt as UnaryMethod<DecryptRequest, DecryptResponse__Output>,
      req,
      opts,
    );
  }

  /**
   * Many blocks in one call: one result per item, in order, each `ok` or its own `error` {code, message,
   * status, reason, errorInfo}.
   */
  async encryptBatch(
    req: EncryptBatchRequest,
    opts?: CallOpts,
  ): Promise<WithItemDetails<EncryptBatchResponse__Output>> {
    return withItemDetails(
      await this.#call(
        this.crypto,
        this.crypto.EncryptBatch as UnaryMethod<EncryptBatchRequest, EncryptBatchResponse__Output>,
        req,
        opts,
      ),
    );
  }

  async decryptBatch(
    req: DecryptBatchRequest,
    opts?: CallOpts,
  ): Promise<WithItemDetails<DecryptBatchResponse__Output>> {
    return withItemDetails(
      await this.#call(
        this.crypto,
        this.crypto.DecryptBatch as UnaryMethod<DecryptBatchRequest, DecryptBatchResponse__Output>,
        req,
        opts,
      ),
    );
  }

  /**
   * Content of any size to one segmented envelope: iterate the result for the envelope bytes, in order
   * (`for await (const b of client.encryptStream(h, fs.createReadStream(f))) ...`, or pipe it). Backpressure
   * both ways; no deadline unless `opts.deadlineMs`. `keyVersion` is set once the first bytes arrive.
   */
  encryptStream(header: StreamHeader, source: StreamSource, opts: StreamCallOpts = {}): ContentStream {
    checkWellFormed({ header });
    return new ContentStream(
      () => this.crypto.EncryptStream(opts.metadata ?? new grpc.Metadata(), streamOptions(opts)),
      { header },
      source,
      opts,
      (res, self) => {
        const r = res as EncryptStreamResponse__Output;
        self.keyVersion ??= r.keyVersion;
        return r.data;
      },
    );
  }

  /**
   * A segmented envelope (bytes in any split) back to its content, segment by segment. The content is
   * complete and authentic only if the iteration ends without an error.
   */
  decryptStream(header: StreamHeader, source: StreamSource, opts: StreamCallOpts = {}): ContentStream {
    checkWellFormed({ header });
    return new ContentStream(
      () => this.crypto.DecryptStream(opts.metadata ?? new grpc.Metadata(), streamOptions(opts)),
      { header },
      source,
      opts,
      (res, self) => {
        const r = res as DecryptStreamResponse__Output;
        if (self.policyId === undefined && r.policyId) {
          self.policyId = r.policyId;
          self.keyVersion = r.keyVersion;
        }
        return r.plaintext;
      },
    );
  }

  rewrap(req: RewrapRequest, opts?: CallOpts): Promise<RewrapResponse__Output> {
    return this.#call(this.crypto, this.crypto.Rewrap as UnaryMethod<RewrapRequest, RewrapResponse__Output>, req, opts);
  }

  rollKey(req: RollKeyRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.RollKey as UnaryMethod<RollKeyRequest, Policy__Output>, req, opts);
  }

  refresh(req: RefreshRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.Refresh as UnaryMethod<RefreshRequest, Policy__Output>, req, opts);
  }

  rotateIntermediateKey(req: RotateIntermediateKeyRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(
      this.admin,
      this.admin.RotateIntermediateKey as UnaryMethod<RotateIntermediateKeyRequest, Policy__Output>,
      req,
      opts,
    );
  }

  revoke(req: RevokeRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.Revoke as UnaryMethod<RevokeRequest, Policy__Output>, req, opts);
  }

  purge(req: PurgeRequest, opts?: CallOpts): Promise<PurgeReceipt__Output> {
    return this.#call(this.admin, this.admin.Purge as UnaryMethod<PurgeRequest, PurgeReceipt__Output>, req, opts);
  }

  createPolicy(req: CreatePolicyRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(
      this.admin,
      this.admin.CreatePolicy as UnaryMethod<CreatePolicyRequest, Policy__Output>,
      req,
      opts,
    );
  }

  getPolicy(tenant: string, id: string, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.GetPolicy as UnaryMethod<object, Policy__Output>, { tenant, id }, opts);
  }

  listPolicies(tenant = '', opts?: CallOpts): Promise<ListPoliciesResponse__Output> {
    return this.#call(
      this.admin,
      this.admin.ListPolicies as UnaryMethod<object, ListPoliciesResponse__Output>,
      { tenant },
      opts,
    );
  }

  evict(req: EvictRequest, opts?: CallOpts): Promise<EvictResponse__Output> {
    return this.#call(this.admin, this.admin.Evict as UnaryMethod<EvictRequest, EvictResponse__Output>, req, opts);
  }

  getStatus(opts?: CallOpts): Promise<Status__Output> {
    return this.#call(this.admin, this.admin.GetStatus as UnaryMethod<object, Status__Output>, {}, opts);
  }

  /** Resolves once connected (to the data listener; with `admin`, to the admin listener too), or rejects after `timeoutMs`. */
  async waitForReady(timeoutMs: number, opts: { admin?: boolean } = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const ready = (c: grpc.Client) =>
      new Promise<void>((resolve, reject) => c.waitForReady(deadline, (err) => (err ? reject(err) : resolve())));
    await Promise.all([ready(this.crypto), ...(opts.admin ? [ready(this.admin)] : [])]);
  }

  close(): void {
    this.crypto.close();
    this.admin.close();
  }

  #call<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, req: Req, opts?: CallOpts): Promise<Res> {
    const options: grpc.CallOptions = { deadline: Date.now() + (opts?.deadlineMs ?? this.#deadlineMs) };
    return new Promise<Res>((resolve, reject) => {
      checkWellFormed(req); // a throw here rejects the promise
      method.call(client, req, opts?.metadata ?? new grpc.Metadata(), options, (err, value) =>
        err ? reject(withErrorDetails(err)) : resolve(value as Res),
      );
    });
  }
}

function withItemDetails<R extends { results: Array<{ error?: ItemError__Output | null }> }>(
  res: R,
): WithItemDetails<R> {
  for (const r of res.results) if (r.error) itemErrorDetails(r.error);
  return res as unknown as WithItemDetails<R>;
}

function streamOptions(opts: StreamCallOpts): grpc.CallOptions {
  return opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
}
