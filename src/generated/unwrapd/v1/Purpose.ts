// Original file: proto/unwrapd/v1/crypto.proto

export const Purpose = {
  PURPOSE_UNSPECIFIED: 'PURPOSE_UNSPECIFIED',
  PURPOSE_USER: 'PURPOSE_USER',
  PURPOSE_SYSTEM: 'PURPOSE_SYSTEM',
} as const;

export type Purpose =
  | 'PURPOSE_UNSPECIFIED'
  | 0
  | 'PURPOSE_USER'
  | 1
  | 'PURPOSE_SYSTEM'
  | 2

export type Purpose__Output = typeof Purpose[keyof typeof Purpose]
