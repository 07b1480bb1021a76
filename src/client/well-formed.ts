import * as grpc from '@grpc/grpc-js';
import { isWellFormed } from '../crypto/encryption-context.js';

/**
 * Refuses, before sending, a request holding a string with an unpaired surrogate. protobufjs would encode it
 * as U+FFFD, so the daemon would bind (or check) a context other than the one given: the context "a\uD800"
 * would seal as "a\uFFFD" and open with either. Refused as the daemon refuses invalid UTF-8: an error shaped
 * like the client's other errors (a ServiceError, INVALID_ARGUMENT), naming the field, never its content.
 */
export function checkWellFormed(request: unknown): void {
  const bad = find(request, '', 0);
  if (bad === undefined) return;
  const details = `${bad} is not well-formed Unicode (an unpaired surrogate), so it cannot be sent exactly`;
  throw Object.assign(new Error(`${grpc.status.INVALID_ARGUMENT} INVALID_ARGUMENT: ${details}`), {
    code: grpc.status.INVALID_ARGUMENT,
    details,
    reason: 'INVALID_REQUEST',
    metadata: new grpc.Metadata(),
  });
}

/** The path of the first ill-formed string in `value` (a request object), or undefined. */
function find(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value === 'string') return isWellFormed(value) ? undefined : path || 'a string';
  if (value === null || typeof value !== 'object' || depth > 8 || ArrayBuffer.isView(value)) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = find(value[i], `${path}[${i}]`, depth + 1);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  const map = path === 'context' || path.endsWith('.context');
  for (const [k, v] of Object.entries(value)) {
    if (!isWellFormed(k)) return map ? `${path} key` : 'a field name';
    const bad = find(v, map ? `${path} value` : path ? `${path}.${k}` : k, depth + 1);
    if (bad !== undefined) return bad;
  }
  return undefined;
}
