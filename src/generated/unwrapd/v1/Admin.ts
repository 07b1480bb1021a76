// Original file: proto/unwrapd/v1/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AuditRecord as _unwrapd_v1_AuditRecord, AuditRecord__Output as _unwrapd_v1_AuditRecord__Output } from '../../unwrapd/v1/AuditRecord.js';
import type { CreatePolicyRequest as _unwrapd_v1_CreatePolicyRequest, CreatePolicyRequest__Output as _unwrapd_v1_CreatePolicyRequest__Output } from '../../unwrapd/v1/CreatePolicyRequest.js';
import type { EvictRequest as _unwrapd_v1_EvictRequest, EvictRequest__Output as _unwrapd_v1_EvictRequest__Output } from '../../unwrapd/v1/EvictRequest.js';
import type { EvictResponse as _unwrapd_v1_EvictResponse, EvictResponse__Output as _unwrapd_v1_EvictResponse__Output } from '../../unwrapd/v1/EvictResponse.js';
import type { GetPolicyRequest as _unwrapd_v1_GetPolicyRequest, GetPolicyRequest__Output as _unwrapd_v1_GetPolicyRequest__Output } from '../../unwrapd/v1/GetPolicyRequest.js';
import type { GetStatusRequest as _unwrapd_v1_GetStatusRequest, GetStatusRequest__Output as _unwrapd_v1_GetStatusRequest__Output } from '../../unwrapd/v1/GetStatusRequest.js';
import type { ListAuditRecordsRequest as _unwrapd_v1_ListAuditRecordsRequest, ListAuditRecordsRequest__Output as _unwrapd_v1_ListAuditRecordsRequest__Output } from '../../unwrapd/v1/ListAuditRecordsRequest.js';
import type { ListAuditRecordsResponse as _unwrapd_v1_ListAuditRecordsResponse, ListAuditRecordsResponse__Output as _unwrapd_v1_ListAuditRecordsResponse__Output } from '../../unwrapd/v1/ListAuditRecordsResponse.js';
import type { ListPoliciesRequest as _unwrapd_v1_ListPoliciesRequest, ListPoliciesRequest__Output as _unwrapd_v1_ListPoliciesRequest__Output } from '../../unwrapd/v1/ListPoliciesRequest.js';
import type { ListPoliciesResponse as _unwrapd_v1_ListPoliciesResponse, ListPoliciesResponse__Output as _unwrapd_v1_ListPoliciesResponse__Output } from '../../unwrapd/v1/ListPoliciesResponse.js';
import type { Policy as _unwrapd_v1_Policy, Policy__Output as _unwrapd_v1_Policy__Output } from '../../unwrapd/v1/Policy.js';
import type { PolicyEvent as _unwrapd_v1_PolicyEvent, PolicyEvent__Output as _unwrapd_v1_PolicyEvent__Output } from '../../unwrapd/v1/PolicyEvent.js';
import type { PurgeReceipt as _unwrapd_v1_PurgeReceipt, PurgeReceipt__Output as _unwrapd_v1_PurgeReceipt__Output } from '../../unwrapd/v1/PurgeReceipt.js';
import type { PurgeRequest as _unwrapd_v1_PurgeRequest, PurgeRequest__Output as _unwrapd_v1_PurgeRequest__Output } from '../../unwrapd/v1/PurgeRequest.js';
import type { RefreshRequest as _unwrapd_v1_RefreshRequest, RefreshRequest__Output as _unwrapd_v1_RefreshRequest__Output } from '../../unwrapd/v1/RefreshRequest.js';
import type { RevokeRequest as _unwrapd_v1_RevokeRequest, RevokeRequest__Output as _unwrapd_v1_RevokeRequest__Output } from '../../unwrapd/v1/RevokeRequest.js';
import type { RollKeyRequest as _unwrapd_v1_RollKeyRequest, RollKeyRequest__Output as _unwrapd_v1_RollKeyRequest__Output } from '../../unwrapd/v1/RollKeyRequest.js';
import type { RotateIntermediateKeyRequest as _unwrapd_v1_RotateIntermediateKeyRequest, RotateIntermediateKeyRequest__Output as _unwrapd_v1_RotateIntermediateKeyRequest__Output } from '../../unwrapd/v1/RotateIntermediateKeyRequest.js';
import type { Status as _unwrapd_v1_Status, Status__Output as _unwrapd_v1_Status__Output } from '../../unwrapd/v1/Status.js';
import type { WatchEventsRequest as _unwrapd_v1_WatchEventsRequest, WatchEventsRequest__Output as _unwrapd_v1_WatchEventsRequest__Output } from '../../unwrapd/v1/WatchEventsRequest.js';

export interface AdminClient extends grpc.Client {
  CreatePolicy(argument: _unwrapd_v1_CreatePolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  CreatePolicy(argument: _unwrapd_v1_CreatePolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  CreatePolicy(argument: _unwrapd_v1_CreatePolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  CreatePolicy(argument: _unwrapd_v1_CreatePolicyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  createPolicy(argument: _unwrapd_v1_CreatePolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  createPolicy(argument: _unwrapd_v1_CreatePolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  createPolicy(argument: _unwrapd_v1_CreatePolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  createPolicy(argument: _unwrapd_v1_CreatePolicyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  Evict(argument: _unwrapd_v1_EvictRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  Evict(argument: _unwrapd_v1_EvictRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  Evict(argument: _unwrapd_v1_EvictRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  Evict(argument: _unwrapd_v1_EvictRequest, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  evict(argument: _unwrapd_v1_EvictRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  evict(argument: _unwrapd_v1_EvictRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  evict(argument: _unwrapd_v1_EvictRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  evict(argument: _unwrapd_v1_EvictRequest, callback: grpc.requestCallback<_unwrapd_v1_EvictResponse__Output>): grpc.ClientUnaryCall;
  
  FollowAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_AuditRecord__Output>;
  FollowAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_AuditRecord__Output>;
  followAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_AuditRecord__Output>;
  followAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_AuditRecord__Output>;
  
  GetPolicy(argument: _unwrapd_v1_GetPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  GetPolicy(argument: _unwrapd_v1_GetPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  GetPolicy(argument: _unwrapd_v1_GetPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  GetPolicy(argument: _unwrapd_v1_GetPolicyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _unwrapd_v1_GetPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _unwrapd_v1_GetPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _unwrapd_v1_GetPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _unwrapd_v1_GetPolicyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  GetStatus(argument: _unwrapd_v1_GetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _unwrapd_v1_GetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _unwrapd_v1_GetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _unwrapd_v1_GetStatusRequest, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _unwrapd_v1_GetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _unwrapd_v1_GetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _unwrapd_v1_GetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _unwrapd_v1_GetStatusRequest, callback: grpc.requestCallback<_unwrapd_v1_Status__Output>): grpc.ClientUnaryCall;
  
  ListAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  ListAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  ListAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  ListAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  listAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  listAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  listAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  listAuditRecords(argument: _unwrapd_v1_ListAuditRecordsRequest, callback: grpc.requestCallback<_unwrapd_v1_ListAuditRecordsResponse__Output>): grpc.ClientUnaryCall;
  
  ListPolicies(argument: _unwrapd_v1_ListPoliciesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  ListPolicies(argument: _unwrapd_v1_ListPoliciesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  ListPolicies(argument: _unwrapd_v1_ListPoliciesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  ListPolicies(argument: _unwrapd_v1_ListPoliciesRequest, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  listPolicies(argument: _unwrapd_v1_ListPoliciesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  listPolicies(argument: _unwrapd_v1_ListPoliciesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  listPolicies(argument: _unwrapd_v1_ListPoliciesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  listPolicies(argument: _unwrapd_v1_ListPoliciesRequest, callback: grpc.requestCallback<_unwrapd_v1_ListPoliciesResponse__Output>): grpc.ClientUnaryCall;
  
  Purge(argument: _unwrapd_v1_PurgeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  Purge(argument: _unwrapd_v1_PurgeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  Purge(argument: _unwrapd_v1_PurgeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  Purge(argument: _unwrapd_v1_PurgeRequest, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  purge(argument: _unwrapd_v1_PurgeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  purge(argument: _unwrapd_v1_PurgeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  purge(argument: _unwrapd_v1_PurgeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  purge(argument: _unwrapd_v1_PurgeRequest, callback: grpc.requestCallback<_unwrapd_v1_PurgeReceipt__Output>): grpc.ClientUnaryCall;
  
  Refresh(argument: _unwrapd_v1_RefreshRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  Refresh(argument: _unwrapd_v1_RefreshRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  Refresh(argument: _unwrapd_v1_RefreshRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  Refresh(argument: _unwrapd_v1_RefreshRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  refresh(argument: _unwrapd_v1_RefreshRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  refresh(argument: _unwrapd_v1_RefreshRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  refresh(argument: _unwrapd_v1_RefreshRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  refresh(argument: _unwrapd_v1_RefreshRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  Revoke(argument: _unwrapd_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _unwrapd_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _unwrapd_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _unwrapd_v1_RevokeRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  revoke(argument: _unwrapd_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  revoke(argument: _unwrapd_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  revoke(argument: _unwrapd_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  revoke(argument: _unwrapd_v1_RevokeRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  RollKey(argument: _unwrapd_v1_RollKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  RollKey(argument: _unwrapd_v1_RollKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  RollKey(argument: _unwrapd_v1_RollKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  RollKey(argument: _unwrapd_v1_RollKeyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rollKey(argument: _unwrapd_v1_RollKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rollKey(argument: _unwrapd_v1_RollKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rollKey(argument: _unwrapd_v1_RollKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rollKey(argument: _unwrapd_v1_RollKeyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  RotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  RotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  RotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  RotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  rotateIntermediateKey(argument: _unwrapd_v1_RotateIntermediateKeyRequest, callback: grpc.requestCallback<_unwrapd_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  WatchEvents(argument: _unwrapd_v1_WatchEventsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_PolicyEvent__Output>;
  WatchEvents(argument: _unwrapd_v1_WatchEventsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_PolicyEvent__Output>;
  watchEvents(argument: _unwrapd_v1_WatchEventsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_PolicyEvent__Output>;
  watchEvents(argument: _unwrapd_v1_WatchEventsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_unwrapd_v1_PolicyEvent__Output>;
  
}

export interface AdminHandlers extends grpc.UntypedServiceImplementation {
  CreatePolicy: grpc.handleUnaryCall<_unwrapd_v1_CreatePolicyRequest__Output, _unwrapd_v1_Policy>;
  
  Evict: grpc.handleUnaryCall<_unwrapd_v1_EvictRequest__Output, _unwrapd_v1_EvictResponse>;
  
  FollowAuditRecords: grpc.handleServerStreamingCall<_unwrapd_v1_ListAuditRecordsRequest__Output, _unwrapd_v1_AuditRecord>;
  
  GetPolicy: grpc.handleUnaryCall<_unwrapd_v1_GetPolicyRequest__Output, _unwrapd_v1_Policy>;
  
  GetStatus: grpc.handleUnaryCall<_unwrapd_v1_GetStatusRequest__Output, _unwrapd_v1_Status>;
  
  ListAuditRecords: grpc.handleUnaryCall<_unwrapd_v1_ListAuditRecordsRequest__Output, _unwrapd_v1_ListAuditRecordsResponse>;
  
  ListPolicies: grpc.handleUnaryCall<_unwrapd_v1_ListPoliciesRequest__Output, _unwrapd_v1_ListPoliciesResponse>;
  
  Purge: grpc.handleUnaryCall<_unwrapd_v1_PurgeRequest__Output, _unwrapd_v1_PurgeReceipt>;
  
  Refresh: grpc.handleUnaryCall<_unwrapd_v1_RefreshRequest__Output, _unwrapd_v1_Policy>;
  
  Revoke: grpc.handleUnaryCall<_unwrapd_v1_RevokeRequest__Output, _unwrapd_v1_Policy>;
  
  RollKey: grpc.handleUnaryCall<_unwrapd_v1_RollKeyRequest__Output, _unwrapd_v1_Policy>;
  
  RotateIntermediateKey: grpc.handleUnaryCall<_unwrapd_v1_RotateIntermediateKeyRequest__Output, _unwrapd_v1_Policy>;
  
  WatchEvents: grpc.handleServerStreamingCall<_unwrapd_v1_WatchEventsRequest__Output, _unwrapd_v1_PolicyEvent>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  CreatePolicy: MethodDefinition<_unwrapd_v1_CreatePolicyRequest, _unwrapd_v1_Policy, _unwrapd_v1_CreatePolicyRequest__Output, _unwrapd_v1_Policy__Output>
  Evict: MethodDefinition<_unwrapd_v1_EvictRequest, _unwrapd_v1_EvictResponse, _unwrapd_v1_EvictRequest__Output, _unwrapd_v1_EvictResponse__Output>
  FollowAuditRecords: MethodDefinition<_unwrapd_v1_ListAuditRecordsRequest, _unwrapd_v1_AuditRecord, _unwrapd_v1_ListAuditRecordsRequest__Output, _unwrapd_v1_AuditRecord__Output>
  GetPolicy: MethodDefinition<_unwrapd_v1_GetPolicyRequest, _unwrapd_v1_Policy, _unwrapd_v1_GetPolicyRequest__Output, _unwrapd_v1_Policy__Output>
  GetStatus: MethodDefinition<_unwrapd_v1_GetStatusRequest, _unwrapd_v1_Status, _unwrapd_v1_GetStatusRequest__Output, _unwrapd_v1_Status__Output>
  ListAuditRecords: MethodDefinition<_unwrapd_v1_ListAuditRecordsRequest, _unwrapd_v1_ListAuditRecordsResponse, _unwrapd_v1_ListAuditRecordsRequest__Output, _unwrapd_v1_ListAuditRecordsResponse__Output>
  ListPolicies: MethodDefinition<_unwrapd_v1_ListPoliciesRequest, _unwrapd_v1_ListPoliciesResponse, _unwrapd_v1_ListPoliciesRequest__Output, _unwrapd_v1_ListPoliciesResponse__Output>
  Purge: MethodDefinition<_unwrapd_v1_PurgeRequest, _unwrapd_v1_PurgeReceipt, _unwrapd_v1_PurgeRequest__Output, _unwrapd_v1_PurgeReceipt__Output>
  Refresh: MethodDefinition<_unwrapd_v1_RefreshRequest, _unwrapd_v1_Policy, _unwrapd_v1_RefreshRequest__Output, _unwrapd_v1_Policy__Output>
  Revoke: MethodDefinition<_unwrapd_v1_RevokeRequest, _unwrapd_v1_Policy, _unwrapd_v1_RevokeRequest__Output, _unwrapd_v1_Policy__Output>
  RollKey: MethodDefinition<_unwrapd_v1_RollKeyRequest, _unwrapd_v1_Policy, _unwrapd_v1_RollKeyRequest__Output, _unwrapd_v1_Policy__Output>
  RotateIntermediateKey: MethodDefinition<_unwrapd_v1_RotateIntermediateKeyRequest, _unwrapd_v1_Policy, _unwrapd_v1_RotateIntermediateKeyRequest__Output, _unwrapd_v1_Policy__Output>
  WatchEvents: MethodDefinition<_unwrapd_v1_WatchEventsRequest, _unwrapd_v1_PolicyEvent, _unwrapd_v1_WatchEventsRequest__Output, _unwrapd_v1_PolicyEvent__Output>
}
