// Original file: proto/unwrapd/v1/admin.proto


export interface RollProgress {
  'done'?: (number);
  'total'?: (number);
}

export interface RollProgress__Output {
  'done': (number);
  'total': (number);
}
