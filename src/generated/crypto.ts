import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from './google/protobuf/Any.js';
import type { Status as _google_rpc_Status, Status__Output as _google_rpc_Status__Output } from './google/rpc/Status.js';
import type { CryptoClient as _unwrapd_v1_CryptoClient, CryptoDefinition as _unwrapd_v1_CryptoDefinition } from './unwrapd/v1/Crypto.js';
import type { DecryptBatchItem as _unwrapd_v1_DecryptBatchItem, DecryptBatchItem__Output as _unwrapd_v1_DecryptBatchItem__Output } from './unwrapd/v1/DecryptBatchItem.js';
import type { DecryptBatchRequest as _unwrapd_v1_DecryptBatchRequest, DecryptBatchRequest__Output as _unwrapd_v1_DecryptBatchRequest__Output } from './unwrapd/v1/DecryptBatchRequest.js';
import type { DecryptBatchResponse as _unwrapd_v1_DecryptBatchResponse, DecryptBatchResponse__Output as _unwrapd_v1_DecryptBatchResponse__Output } from './unwrapd/v1/DecryptBatchResponse.js';
import type { DecryptBatchResult as _unwrapd_v1_DecryptBatchResult, DecryptBatchResult__Output as _unwrapd_v1_DecryptBatchResult__Output } from './unwrapd/v1/DecryptBatchResult.js';
import type { DecryptRequest as _unwrapd_v1_DecryptRequest, DecryptRequest__Output as _unwrapd_v1_DecryptRequest__Output } from './unwrapd/v1/DecryptRequest.js';
import type { DecryptResponse as _unwrapd_v1_DecryptResponse, DecryptResponse__Output as _unwrapd_v1_DecryptResponse__Output } from './unwrapd/v1/DecryptResponse.js';
import type { DecryptStreamRequest as _unwrapd_v1_DecryptStreamRequest, DecryptStreamRequest__Output as _unwrapd_v1_DecryptStreamRequest__Output } from './unwrapd/v1/DecryptStreamRequest.js';
import type { DecryptStreamResponse as _unwrapd_v1_DecryptStreamResponse, DecryptStreamResponse__Output as _unwrapd_v1_DecryptStreamResponse__Output } from './unwrapd/v1/DecryptStreamResponse.js';
import type { EncryptBatchItem as _unwrapd_v1_EncryptBatchItem, EncryptBatchItem__Output as _unwrapd_v1_EncryptBatchItem__Output } from './unwrapd/v1/EncryptBatchItem.js';
import type { EncryptBatchRequest as _unwrapd_v1_EncryptBatchRequest, EncryptBatchRequest__Output as _unwrapd_v1_EncryptBatchRequest__Output } from './unwrapd/v1/EncryptBatchRequest.js';
import type { EncryptBatchResponse as _unwrapd_v1_EncryptBatchResponse, EncryptBatchResponse__Output as _unwrapd_v1_EncryptBatchResponse__Output } from './unwrapd/v1/EncryptBatchResponse.js';
import type { EncryptBatchResult as _unwrapd_v1_EncryptBatchResult, EncryptBatchResult__Output as _unwrapd_v1_EncryptBatchResult__Output } from './unwrapd/v1/EncryptBatchResult.js';
import type { EncryptRequest as _unwrapd_v1_EncryptRequest, EncryptRequest__Output as _unwrapd_v1_EncryptRequest__Output } from './unwrapd/v1/EncryptRequest.js';
import type { EncryptResponse as _unwrapd_v1_EncryptResponse, EncryptResponse__Output as _unwrapd_v1_EncryptResponse__Output } from './unwrapd/v1/EncryptResponse.js';
import type { EncryptStreamRequest as _unwrapd_v1_EncryptStreamRequest, EncryptStreamRequest__Output as _unwrapd_v1_EncryptStreamRequest__Output } from './unwrapd/v1/EncryptStreamRequest.js';
import type { EncryptStreamResponse as _unwrapd_v1_EncryptStreamResponse, EncryptStreamResponse__Output as _unwrapd_v1_EncryptStreamResponse__Output } from './unwrapd/v1/EncryptStreamResponse.js';
import type { ItemError as _unwrapd_v1_ItemError, ItemError__Output as _unwrapd_v1_ItemError__Output } from './unwrapd/v1/ItemError.js';
import type { RewrapRequest as _unwrapd_v1_RewrapRequest, RewrapRequest__Output as _unwrapd_v1_RewrapRequest__Output } from './unwrapd/v1/RewrapRequest.js';
import type { RewrapResponse as _unwrapd_v1_RewrapResponse, RewrapResponse__Output as _unwrapd_v1_RewrapResponse__Output } from './unwrapd/v1/RewrapResponse.js';
import type { StreamHeader as _unwrapd_v1_StreamHeader, StreamHeader__Output as _unwrapd_v1_StreamHeader__Output } from './unwrapd/v1/StreamHeader.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Any: MessageTypeDefinition<_google_protobuf_Any, _google_protobuf_Any__Output>
    }
    rpc: {
      Status: MessageTypeDefinition<_google_rpc_Status, _google_rpc_Status__Output>
    }
  }
  unwrapd: {
    v1: {
      Crypto: SubtypeConstructor<typeof grpc.Client, _unwrapd_v1_CryptoClient> & { service: _unwrapd_v1_CryptoDefinition }
      DecryptBatchItem: MessageTypeDefinition<_unwrapd_v1_DecryptBatchItem, _unwrapd_v1_DecryptBatchItem__Output>
      DecryptBatchRequest: MessageTypeDefinition<_unwrapd_v1_DecryptBatchRequest, _unwrapd_v1_DecryptBatchRequest__Output>
      DecryptBatchResponse: MessageTypeDefinition<_unwrapd_v1_DecryptBatchResponse, _unwrapd_v1_DecryptBatchResponse__Output>
      DecryptBatchResult: MessageTypeDefinition<_unwrapd_v1_DecryptBatchResult, _unwrapd_v1_DecryptBatchResult__Output>
      DecryptRequest: MessageTypeDefinition<_unwrapd_v1_DecryptRequest, _unwrapd_v1_DecryptRequest__Output>
      DecryptResponse: MessageTypeDefinition<_unwrapd_v1_DecryptResponse, _unwrapd_v1_DecryptResponse__Output>
      DecryptStreamRequest: MessageTypeDefinition<_unwrapd_v1_DecryptStreamRequest, _unwrapd_v1_DecryptStreamRequest__Output>
      DecryptStreamResponse: MessageTypeDefinition<_unwrapd_v1_DecryptStreamResponse, _unwrapd_v1_DecryptStreamResponse__Output>
      EncryptBatchItem: MessageTypeDefinition<_unwrapd_v1_EncryptBatchItem, _unwrapd_v1_EncryptBatchItem__Output>
      EncryptBatchRequest: MessageTypeDefinition<_unwrapd_v1_EncryptBatchRequest, _unwrapd_v1_EncryptBatchRequest__Output>
      EncryptBatchResponse: MessageTypeDefinition<_unwrapd_v1_EncryptBatchResponse, _unwrapd_v1_EncryptBatchResponse__Output>
      EncryptBatchResult: MessageTypeDefinition<_unwrapd_v1_EncryptBatchResult, _unwrapd_v1_EncryptBatchResult__Output>
      EncryptRequest: MessageTypeDefinition<_unwrapd_v1_EncryptRequest, _unwrapd_v1_EncryptRequest__Output>
      EncryptResponse: MessageTypeDefinition<_unwrapd_v1_EncryptResponse, _unwrapd_v1_EncryptResponse__Output>
      EncryptStreamRequest: MessageTypeDefinition<_unwrapd_v1_EncryptStreamRequest, _unwrapd_v1_EncryptStreamRequest__Output>
      EncryptStreamResponse: MessageTypeDefinition<_unwrapd_v1_EncryptStreamResponse, _unwrapd_v1_EncryptStreamResponse__Output>
      ItemError: MessageTypeDefinition<_unwrapd_v1_ItemError, _unwrapd_v1_ItemError__Output>
      Purpose: EnumTypeDefinition
      RewrapRequest: MessageTypeDefinition<_unwrapd_v1_RewrapRequest, _unwrapd_v1_RewrapRequest__Output>
      RewrapResponse: MessageTypeDefinition<_unwrapd_v1_RewrapResponse, _unwrapd_v1_RewrapResponse__Output>
      StreamHeader: MessageTypeDefinition<_unwrapd_v1_StreamHeader, _unwrapd_v1_StreamHeader__Output>
    }
  }
}

