// Original file: proto/unwrapd/v1/admin.proto

import type { WrappedCopy as _unwrapd_v1_WrappedCopy, WrappedCopy__Output as _unwrapd_v1_WrappedCopy__Output } from '../../unwrapd/v1/WrappedCopy.js';

export interface KeyVersion {
  'version'?: (number);
  'createdAt'?: (string);
  'copies'?: (_unwrapd_v1_WrappedCopy)[];
}

export interface KeyVersion__Output {
  'version': (number);
  'createdAt': (string);
  'copies': (_unwrapd_v1_WrappedCopy__Output)[];
}
