import { constants } from 'node:http2';

interface ResettableStream {
  closed: boolean;
  destroyed: boolean;
  close(code: number): void;
}

/**
 * Resets the HTTP/2 stream under a grpc-js server call with ENHANCE_YOUR_CALM (grpc clients report it as
 * RESOURCE_EXHAUSTED). For a stream ended by a bound while the client is not reading: its status would wait
 * behind response bytes the client never takes, and those bytes would stay buffered. grpc-js has no public
 * way to reset a server stream, so this follows its call objects to the stream (duck-typed, through any
 * interceptors); returns false if it found none (the connection's age and keepalive bounds still apply).
 */
export function resetCallStream(call: unknown): boolean {
  let node: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && typeof node === 'object' && node !== null; depth++) {
    const stream = (node as { stream?: unknown }).stream;
    if (isResettable(stream)) {
      if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return true;
    }
    node = (node as { nextCall?: unknown }).nextCall;
  }
  return false;
}

function isResettable(s: unknown): s is ResettableStream {
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof (s as ResettableStream).close === 'function' &&
    'rstCode' in s &&
    'session' in s
  );
}
