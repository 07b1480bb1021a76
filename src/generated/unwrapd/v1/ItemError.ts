// Original file: proto/unwrapd/v1/crypto.proto


export interface ItemError {
  'code'?: (number);
  'message'?: (string);
}

export interface ItemError__Output {
  'code': (number);
  'message': (string);
}
