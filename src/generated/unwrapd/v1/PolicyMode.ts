// Original file: proto/unwrapd/v1/admin.proto

export const PolicyMode = {
  POLICY_MODE_UNSPECIFIED: 'POLICY_MODE_UNSPECIFIED',
  POLICY_MODE_MAILBOX: 'POLICY_MODE_MAILBOX',
  POLICY_MODE_FILES: 'POLICY_MODE_FILES',
} as const;

export type PolicyMode =
  | 'POLICY_MODE_UNSPECIFIED'
  | 0
  | 'POLICY_MODE_MAILBOX'
  | 1
  | 'POLICY_MODE_FILES'
  | 2

export type PolicyMode__Output = typeof PolicyMode[keyof typeof PolicyMode]
