import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AdminClient as _unwrapd_v1_AdminClient, AdminDefinition as _unwrapd_v1_AdminDefinition } from './unwrapd/v1/Admin.js';
import type { AuditRecord as _unwrapd_v1_AuditRecord, AuditRecord__Output as _unwrapd_v1_AuditRecord__Output } from './unwrapd/v1/AuditRecord.js';
import type { CachedKey as _unwrapd_v1_CachedKey, CachedKey__Output as _unwrapd_v1_CachedKey__Output } from './unwrapd/v1/CachedKey.js';
import type { CreatePolicyRequest as _unwrapd_v1_CreatePolicyRequest, CreatePolicyRequest__Output as _unwrapd_v1_CreatePolicyRequest__Output } from './unwrapd/v1/CreatePolicyRequest.js';
import type { EvictRequest as _unwrapd_v1_EvictRequest, EvictRequest__Output as _unwrapd_v1_EvictRequest__Output } from './unwrapd/v1/EvictRequest.js';
import type { EvictResponse as _unwrapd_v1_EvictResponse, EvictResponse__Output as _unwrapd_v1_EvictResponse__Output } from './unwrapd/v1/EvictResponse.js';
import type { FeedStatus as _unwrapd_v1_FeedStatus, FeedStatus__Output as _unwrapd_v1_FeedStatus__Output } from './unwrapd/v1/FeedStatus.js';
import type { GetPolicyRequest as _unwrapd_v1_GetPolicyRequest, GetPolicyRequest__Output as _unwrapd_v1_GetPolicyRequest__Output } from './unwrapd/v1/GetPolicyRequest.js';
import type { GetStatusRequest as _unwrapd_v1_GetStatusRequest, GetStatusRequest__Output as _unwrapd_v1_GetStatusRequest__Output } from './unwrapd/v1/GetStatusRequest.js';
import type { KeyDestruction as _unwrapd_v1_KeyDestruction, KeyDestruction__Output as _unwrapd_v1_KeyDestruction__Output } from './unwrapd/v1/KeyDestruction.js';
import type { KeyReference as _unwrapd_v1_KeyReference, KeyReference__Output as _unwrapd_v1_KeyReference__Output } from './unwrapd/v1/KeyReference.js';
import type { KeyVersion as _unwrapd_v1_KeyVersion, KeyVersion__Output as _unwrapd_v1_KeyVersion__Output } from './unwrapd/v1/KeyVersion.js';
import type { ListAuditRecordsRequest as _unwrapd_v1_ListAuditRecordsRequest, ListAuditRecordsRequest__Output as _unwrapd_v1_ListAuditRecordsRequest__Output } from './unwrapd/v1/ListAuditRecordsRequest.js';
import type { ListAuditRecordsResponse as _unwrapd_v1_ListAuditRecordsResponse, ListAuditRecordsResponse__Output as _unwrapd_v1_ListAuditRecordsResponse__Output } from './unwrapd/v1/ListAuditRecordsResponse.js';
import type { ListPoliciesRequest as _unwrapd_v1_ListPoliciesRequest, ListPoliciesRequest__Output as _unwrapd_v1_ListPoliciesRequest__Output } from './unwrapd/v1/ListPoliciesRequest.js';
import type { ListPoliciesResponse as _unwrapd_v1_ListPoliciesResponse, ListPoliciesResponse__Output as _unwrapd_v1_ListPoliciesResponse__Output } from './unwrapd/v1/ListPoliciesResponse.js';
import type { Policy as _unwrapd_v1_Policy, Policy__Output as _unwrapd_v1_Policy__Output } from './unwrapd/v1/Policy.js';
import type { PolicyEvent as _unwrapd_v1_PolicyEvent, PolicyEvent__Output as _unwrapd_v1_PolicyEvent__Output } from './unwrapd/v1/PolicyEvent.js';
import type { PurgeReceipt as _unwrapd_v1_PurgeReceipt, PurgeReceipt__Output as _unwrapd_v1_PurgeReceipt__Output } from './unwrapd/v1/PurgeReceipt.js';
import type { PurgeRequest as _unwrapd_v1_PurgeRequest, PurgeRequest__Output as _unwrapd_v1_PurgeRequest__Output } from './unwrapd/v1/PurgeRequest.js';
import type { RefreshRequest as _unwrapd_v1_RefreshRequest, RefreshRequest__Output as _unwrapd_v1_RefreshRequest__Output } from './unwrapd/v1/RefreshRequest.js';
import type { RevokeRequest as _unwrapd_v1_RevokeRequest, RevokeRequest__Output as _unwrapd_v1_RevokeRequest__Output } from './unwrapd/v1/RevokeRequest.js';
import type { RollKeyRequest as _unwrapd_v1_RollKeyRequest, RollKeyRequest__Output as _unwrapd_v1_RollKeyRequest__Output } from './unwrapd/v1/RollKeyRequest.js';
import type { RollProgress as _unwrapd_v1_RollProgress, RollProgress__Output as _unwrapd_v1_RollProgress__Output } from './unwrapd/v1/RollProgress.js';
import type { RotateIntermediateKeyRequest as _unwrapd_v1_RotateIntermediateKeyRequest, RotateIntermediateKeyRequest__Output as _unwrapd_v1_RotateIntermediateKeyRequest__Output } from './unwrapd/v1/RotateIntermediateKeyRequest.js';
import type { Status as _unwrapd_v1_Status, Status__Output as _unwrapd_v1_Status__Output } from './unwrapd/v1/Status.js';
import type { TenantCount as _unwrapd_v1_TenantCount, TenantCount__Output as _unwrapd_v1_TenantCount__Output } from './unwrapd/v1/TenantCount.js';
import type { WatchEventsRequest as _unwrapd_v1_WatchEventsRequest, WatchEventsRequest__Output as _unwrapd_v1_WatchEventsRequest__Output } from './unwrapd/v1/WatchEventsRequest.js';
import type { WrappedCopy as _unwrapd_v1_WrappedCopy, WrappedCopy__Output as _unwrapd_v1_WrappedCopy__Output } from './unwrapd/v1/WrappedCopy.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  unwrapd: {
    v1: {
      Admin: SubtypeConstructor<typeof grpc.Client, _unwrapd_v1_AdminClient> & { service: _unwrapd_v1_AdminDefinition }
      AuditRecord: MessageTypeDefinition<_unwrapd_v1_AuditRecord, _unwrapd_v1_AuditRecord__Output>
      CachedKey: MessageTypeDefinition<_unwrapd_v1_CachedKey, _unwrapd_v1_CachedKey__Output>
      CreatePolicyRequest: MessageTypeDefinition<_unwrapd_v1_CreatePolicyRequest, _unwrapd_v1_CreatePolicyRequest__Output>
      EvictRequest: MessageTypeDefinition<_unwrapd_v1_EvictRequest, _unwrapd_v1_EvictRequest__Output>
      EvictResponse: MessageTypeDefinition<_unwrapd_v1_EvictResponse, _unwrapd_v1_EvictResponse__Output>
      FeedStatus: MessageTypeDefinition<_unwrapd_v1_FeedStatus, _unwrapd_v1_FeedStatus__Output>
      GetPolicyRequest: MessageTypeDefinition<_unwrapd_v1_GetPolicyRequest, _unwrapd_v1_GetPolicyRequest__Output>
      GetStatusRequest: MessageTypeDefinition<_unwrapd_v1_GetStatusRequest, _unwrapd_v1_GetStatusRequest__Output>
      KeyDestruction: MessageTypeDefinition<_unwrapd_v1_KeyDestruction, _unwrapd_v1_KeyDestruction__Output>
      KeyReference: MessageTypeDefinition<_unwrapd_v1_KeyReference, _unwrapd_v1_KeyReference__Output>
      KeyVersion: MessageTypeDefinition<_unwrapd_v1_KeyVersion, _unwrapd_v1_KeyVersion__Output>
      ListAuditRecordsRequest: MessageTypeDefinition<_unwrapd_v1_ListAuditRecordsRequest, _unwrapd_v1_ListAuditRecordsRequest__Output>
      ListAuditRecordsResponse: MessageTypeDefinition<_unwrapd_v1_ListAuditRecordsResponse, _unwrapd_v1_ListAuditRecordsResponse__Output>
      ListPoliciesRequest: MessageTypeDefinition<_unwrapd_v1_ListPoliciesRequest, _unwrapd_v1_ListPoliciesRequest__Output>
      ListPoliciesResponse: MessageTypeDefinition<_unwrapd_v1_ListPoliciesResponse, _unwrapd_v1_ListPoliciesResponse__Output>
      Policy: MessageTypeDefinition<_unwrapd_v1_Policy, _unwrapd_v1_Policy__Output>
      PolicyEvent: MessageTypeDefinition<_unwrapd_v1_PolicyEvent, _unwrapd_v1_PolicyEvent__Output>
      PolicyMode: EnumTypeDefinition
      PolicyState: EnumTypeDefinition
      PurgeReceipt: MessageTypeDefinition<_unwrapd_v1_PurgeReceipt, _unwrapd_v1_PurgeReceipt__Output>
      PurgeRequest: MessageTypeDefinition<_unwrapd_v1_PurgeRequest, _unwrapd_v1_PurgeRequest__Output>
      RefreshRequest: MessageTypeDefinition<_unwrapd_v1_RefreshRequest, _unwrapd_v1_RefreshRequest__Output>
      RevokeRequest: MessageTypeDefinition<_unwrapd_v1_RevokeRequest, _unwrapd_v1_RevokeRequest__Output>
      RollKeyRequest: MessageTypeDefinition<_unwrapd_v1_RollKeyRequest, _unwrapd_v1_RollKeyRequest__Output>
      RollProgress: MessageTypeDefinition<_unwrapd_v1_RollProgress, _unwrapd_v1_RollProgress__Output>
      RotateIntermediateKeyRequest: MessageTypeDefinition<_unwrapd_v1_RotateIntermediateKeyRequest, _unwrapd_v1_RotateIntermediateKeyRequest__Output>
      Status: MessageTypeDefinition<_unwrapd_v1_Status, _unwrapd_v1_Status__Output>
      TenantCount: MessageTypeDefinition<_unwrapd_v1_TenantCount, _unwrapd_v1_TenantCount__Output>
      WatchEventsRequest: MessageTypeDefinition<_unwrapd_v1_WatchEventsRequest, _unwrapd_v1_WatchEventsRequest__Output>
      WrappedCopy: MessageTypeDefinition<_unwrapd_v1_WrappedCopy, _unwrapd_v1_WrappedCopy__Output>
    }
  }
}

