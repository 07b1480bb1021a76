import * as grpc from '@grpc/grpc-js';
import type { CreatePolicyRequest } from '../generated/unwrapd/v1/CreatePolicyRequest.js';
import type { DecryptRequest } from '../generated/unwrapd/v1/DecryptRequest.js';
import type { DecryptResponse__Output } from '../generated/unwrapd/v1/DecryptResponse.js';
import type { EncryptRequest } from '../generated/unwrapd/v1/EncryptRequest.js';
import type { EncryptResponse__Output } from '../generated/unwrapd/v1/EncryptResponse.js';
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
import { loadProto } from '../server/proto.js';

export interface ClientOptions {
  /** Default deadline of each call. Default 30 s. */
  deadlineMs?: number;
  /** Largest message in either direction. Default 8 MiB (a 4 MiB block with room). */
  maxMessageBytes?: number;
  credentials?: grpc.ChannelCredentials;
}

export interface CallOpts {
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type UnaryMethod<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<Res>) => grpc.ClientUnaryCall;

/**
 * A typed client for unwrapd (the CLI, the tests and the benchmarks use it). `address` is what the daemon
 * listens on: `unix:///path/to.sock` or `host:port`. Errors are grpc ServiceErrors with `code` and `details`.
 */
export class UnwrapdClient {
  readonly crypto: CryptoClient;
  readonly admin: AdminClient;
  readonly #deadlineMs: number;

  constructor(address: string, opts: ClientOptions = {}) {
    const { proto } = loadProto();
    const max = opts.maxMessageBytes ?? 8 * 1024 * 1024;
    const channelOptions = { 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max };
    const credentials = opts.credentials ?? grpc.credentials.createInsecure();
    this.crypto = new proto.unwrapd.v1.Crypto(address, credentials, channelOptions);
    // Share the channel: one connection for both services.
    this.admin = new proto.unwrapd.v1.Admin(address, credentials, { ...channelOptions, channelOverride: this.crypto.getChannel() });
    this.#deadlineMs = opts.deadlineMs ?? 30_000;
  }

  encrypt(req: EncryptRequest, opts?: CallOpts): Promise<EncryptResponse__Output> {
    return this.#call(this.crypto, this.crypto.Encrypt as UnaryMethod<EncryptRequest, EncryptResponse__Output>, req, opts);
  }

  decrypt(req: DecryptRequest, opts?: CallOpts): Promise<DecryptResponse__Output> {
    return this.#call(this.crypto, this.crypto.Decrypt as UnaryMethod<DecryptRequest, DecryptResponse__Output>, req, opts);
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
    return this.#call(this.admin, this.admin.RotateIntermediateKey as UnaryMethod<RotateIntermediateKeyRequest, Policy__Output>, req, opts);
  }

  revoke(req: RevokeRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.Revoke as UnaryMethod<RevokeRequest, Policy__Output>, req, opts);
  }

  purge(req: PurgeRequest, opts?: CallOpts): Promise<PurgeReceipt__Output> {
    return this.#call(this.admin, this.admin.Purge as UnaryMethod<PurgeRequest, PurgeReceipt__Output>, req, opts);
  }

  createPolicy(req: CreatePolicyRequest, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.CreatePolicy as UnaryMethod<CreatePolicyRequest, Policy__Output>, req, opts);
  }

  getPolicy(tenant: string, id: string, opts?: CallOpts): Promise<Policy__Output> {
    return this.#call(this.admin, this.admin.GetPolicy as UnaryMethod<object, Policy__Output>, { tenant, id }, opts);
  }

  listPolicies(tenant = '', opts?: CallOpts): Promise<ListPoliciesResponse__Output> {
    return this.#call(this.admin, this.admin.ListPolicies as UnaryMethod<object, ListPoliciesResponse__Output>, { tenant }, opts);
  }

  evict(req: EvictRequest, opts?: CallOpts): Promise<EvictResponse__Output> {
    return this.#call(this.admin, this.admin.Evict as UnaryMethod<EvictRequest, EvictResponse__Output>, req, opts);
  }

  getStatus(opts?: CallOpts): Promise<Status__Output> {
    return this.#call(this.admin, this.admin.GetStatus as UnaryMethod<object, Status__Output>, {}, opts);
  }

  /** Resolves once connected, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.crypto.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.crypto.close();
  }

  #call<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, req: Req, opts?: CallOpts): Promise<Res> {
    const options: grpc.CallOptions = { deadline: Date.now() + (opts?.deadlineMs ?? this.#deadlineMs) };
    return new Promise<Res>((resolve, reject) => {
      method.call(client, req, opts?.metadata ?? new grpc.Metadata(), options, (err, value) => (err ? reject(err) : resolve(value as Res)));
    });
  }
}
