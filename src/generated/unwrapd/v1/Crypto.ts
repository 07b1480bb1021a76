// Original file: proto/unwrapd/v1/crypto.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DecryptBatchRequest as _unwrapd_v1_DecryptBatchRequest, DecryptBatchRequest__Output as _unwrapd_v1_DecryptBatchRequest__Output } from '../../unwrapd/v1/DecryptBatchRequest.js';
import type { DecryptBatchResponse as _unwrapd_v1_DecryptBatchResponse, DecryptBatchResponse__Output as _unwrapd_v1_DecryptBatchResponse__Output } from '../../unwrapd/v1/DecryptBatchResponse.js';
import type { DecryptRequest as _unwrapd_v1_DecryptRequest, DecryptRequest__Output as _unwrapd_v1_DecryptRequest__Output } from '../../unwrapd/v1/DecryptRequest.js';
import type { DecryptResponse as _unwrapd_v1_DecryptResponse, DecryptResponse__Output as _unwrapd_v1_DecryptResponse__Output } from '../../unwrapd/v1/DecryptResponse.js';
import type { DecryptStreamRequest as _unwrapd_v1_DecryptStreamRequest, DecryptStreamRequest__Output as _unwrapd_v1_DecryptStreamRequest__Output } from '../../unwrapd/v1/DecryptStreamRequest.js';
import type { DecryptStreamResponse as _unwrapd_v1_DecryptStreamResponse, DecryptStreamResponse__Output as _unwrapd_v1_DecryptStreamResponse__Output } from '../../unwrapd/v1/DecryptStreamResponse.js';
import type { EncryptBatchRequest as _unwrapd_v1_EncryptBatchRequest, EncryptBatchRequest__Output as _unwrapd_v1_EncryptBatchRequest__Output } from '../../unwrapd/v1/EncryptBatchRequest.js';
import type { EncryptBatchResponse as _unwrapd_v1_EncryptBatchResponse, EncryptBatchResponse__Output as _unwrapd_v1_EncryptBatchResponse__Output } from '../../unwrapd/v1/EncryptBatchResponse.js';
import type { EncryptRequest as _unwrapd_v1_EncryptRequest, EncryptRequest__Output as _unwrapd_v1_EncryptRequest__Output } from '../../unwrapd/v1/EncryptRequest.js';
import type { EncryptResponse as _unwrapd_v1_EncryptResponse, EncryptResponse__Output as _unwrapd_v1_EncryptResponse__Output } from '../../unwrapd/v1/EncryptResponse.js';
import type { EncryptStreamRequest as _unwrapd_v1_EncryptStreamRequest, EncryptStreamRequest__Output as _unwrapd_v1_EncryptStreamRequest__Output } from '../../unwrapd/v1/EncryptStreamRequest.js';
import type { EncryptStreamResponse as _unwrapd_v1_EncryptStreamResponse, EncryptStreamResponse__Output as _unwrapd_v1_EncryptStreamResponse__Output } from '../../unwrapd/v1/EncryptStreamResponse.js';
import type { RewrapRequest as _unwrapd_v1_RewrapRequest, RewrapRequest__Output as _unwrapd_v1_RewrapRequest__Output } from '../../unwrapd/v1/RewrapRequest.js';
import type { RewrapResponse as _unwrapd_v1_RewrapResponse, RewrapResponse__Output as _unwrapd_v1_RewrapResponse__Output } from '../../unwrapd/v1/RewrapResponse.js';

export interface CryptoClient extends grpc.Client {
  Decrypt(argument: _unwrapd_v1_DecryptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  Decrypt(argument: _unwrapd_v1_DecryptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  Decrypt(argument: _unwrapd_v1_DecryptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  Decrypt(argument: _unwrapd_v1_DecryptRequest, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  decrypt(argument: _unwrapd_v1_DecryptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  decrypt(argument: _unwrapd_v1_DecryptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  decrypt(argument: _unwrapd_v1_DecryptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  decrypt(argument: _unwrapd_v1_DecryptRequest, callback: grpc.requestCallback<_unwrapd_v1_DecryptResponse__Output>): grpc.ClientUnaryCall;
  
  DecryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  DecryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  DecryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  DecryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  decryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  decryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  decryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  decryptBatch(argument: _unwrapd_v1_DecryptBatchRequest, callback: grpc.requestCallback<_unwrapd_v1_DecryptBatchResponse__Output>): grpc.ClientUnaryCall;
  
  DecryptStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_DecryptStreamRequest, _unwrapd_v1_DecryptStreamResponse__Output>;
  DecryptStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_DecryptStreamRequest, _unwrapd_v1_DecryptStreamResponse__Output>;
  decryptStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_DecryptStreamRequest, _unwrapd_v1_DecryptStreamResponse__Output>;
  decryptStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_DecryptStreamRequest, _unwrapd_v1_DecryptStreamResponse__Output>;
  
  Encrypt(argument: _unwrapd_v1_EncryptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  Encrypt(argument: _unwrapd_v1_EncryptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  Encrypt(argument: _unwrapd_v1_EncryptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  Encrypt(argument: _unwrapd_v1_EncryptRequest, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  encrypt(argument: _unwrapd_v1_EncryptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  encrypt(argument: _unwrapd_v1_EncryptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  encrypt(argument: _unwrapd_v1_EncryptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  encrypt(argument: _unwrapd_v1_EncryptRequest, callback: grpc.requestCallback<_unwrapd_v1_EncryptResponse__Output>): grpc.ClientUnaryCall;
  
  EncryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  EncryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  EncryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  EncryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  encryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  encryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  encryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  encryptBatch(argument: _unwrapd_v1_EncryptBatchRequest, callback: grpc.requestCallback<_unwrapd_v1_EncryptBatchResponse__Output>): grpc.ClientUnaryCall;
  
  EncryptStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_EncryptStreamRequest, _unwrapd_v1_EncryptStreamResponse__Output>;
  EncryptStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_EncryptStreamRequest, _unwrapd_v1_EncryptStreamResponse__Output>;
  encryptStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_EncryptStreamRequest, _unwrapd_v1_EncryptStreamResponse__Output>;
  encryptStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_unwrapd_v1_EncryptStreamRequest, _unwrapd_v1_EncryptStreamResponse__Output>;
  
  Rewrap(argument: _unwrapd_v1_RewrapRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  Rewrap(argument: _unwrapd_v1_RewrapRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  Rewrap(argument: _unwrapd_v1_RewrapRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  Rewrap(argument: _unwrapd_v1_RewrapRequest, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  rewrap(argument: _unwrapd_v1_RewrapRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  rewrap(argument: _unwrapd_v1_RewrapRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  rewrap(argument: _unwrapd_v1_RewrapRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  rewrap(argument: _unwrapd_v1_RewrapRequest, callback: grpc.requestCallback<_unwrapd_v1_RewrapResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface CryptoHandlers extends grpc.UntypedServiceImplementation {
  Decrypt: grpc.handleUnaryCall<_unwrapd_v1_DecryptRequest__Output, _unwrapd_v1_DecryptResponse>;
  
  DecryptBatch: grpc.handleUnaryCall<_unwrapd_v1_DecryptBatchRequest__Output, _unwrapd_v1_DecryptBatchResponse>;
  
  DecryptStream: grpc.handleBidiStreamingCall<_unwrapd_v1_DecryptStreamRequest__Output, _unwrapd_v1_DecryptStreamResponse>;
  
  Encrypt: grpc.handleUnaryCall<_unwrapd_v1_EncryptRequest__Output, _unwrapd_v1_EncryptResponse>;
  
  EncryptBatch: grpc.handleUnaryCall<_unwrapd_v1_EncryptBatchRequest__Output, _unwrapd_v1_EncryptBatchResponse>;
  
  EncryptStream: grpc.handleBidiStreamingCall<_unwrapd_v1_EncryptStreamRequest__Output, _unwrapd_v1_EncryptStreamResponse>;
  
  Rewrap: grpc.handleUnaryCall<_unwrapd_v1_RewrapRequest__Output, _unwrapd_v1_RewrapResponse>;
  
}

export interface CryptoDefinition extends grpc.ServiceDefinition {
  Decrypt: MethodDefinition<_unwrapd_v1_DecryptRequest, _unwrapd_v1_DecryptResponse, _unwrapd_v1_DecryptRequest__Output, _unwrapd_v1_DecryptResponse__Output>
  DecryptBatch: MethodDefinition<_unwrapd_v1_DecryptBatchRequest, _unwrapd_v1_DecryptBatchResponse, _unwrapd_v1_DecryptBatchRequest__Output, _unwrapd_v1_DecryptBatchResponse__Output>
  DecryptStream: MethodDefinition<_unwrapd_v1_DecryptStreamRequest, _unwrapd_v1_DecryptStreamResponse, _unwrapd_v1_DecryptStreamRequest__Output, _unwrapd_v1_DecryptStreamResponse__Output>
  Encrypt: MethodDefinition<_unwrapd_v1_EncryptRequest, _unwrapd_v1_EncryptResponse, _unwrapd_v1_EncryptRequest__Output, _unwrapd_v1_EncryptResponse__Output>
  EncryptBatch: MethodDefinition<_unwrapd_v1_EncryptBatchRequest, _unwrapd_v1_EncryptBatchResponse, _unwrapd_v1_EncryptBatchRequest__Output, _unwrapd_v1_EncryptBatchResponse__Output>
  EncryptStream: MethodDefinition<_unwrapd_v1_EncryptStreamRequest, _unwrapd_v1_EncryptStreamResponse, _unwrapd_v1_EncryptStreamRequest__Output, _unwrapd_v1_EncryptStreamResponse__Output>
  Rewrap: MethodDefinition<_unwrapd_v1_RewrapRequest, _unwrapd_v1_RewrapResponse, _unwrapd_v1_RewrapRequest__Output, _unwrapd_v1_RewrapResponse__Output>
}
