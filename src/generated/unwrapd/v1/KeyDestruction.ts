// Original file: proto/unwrapd/v1/admin.proto


export interface KeyDestruction {
  'provider'?: (string);
  'keyUri'?: (string);
  'action'?: (string);
  'destroyedAt'?: (string);
  'alreadyDestroyed'?: (boolean);
}

export interface KeyDestruction__Output {
  'provider': (string);
  'keyUri': (string);
  'action': (string);
  'destroyedAt': (string);
  'alreadyDestroyed': (boolean);
}
