/**
 * What a log line may hold of a value. Field names that say "secret or content" are redacted whatever their
 * value, at any depth (nested objects, arrays); byte buffers log as their length; errors as their name, code
 * and message (a cause as its name and code only: a third party's message may quote data); other class
 * instances as their class name (a SecretKey, a KeyObject, a Map never print their contents). Long strings are
 * cut, deep or circular structures stop with a marker.
 */
export type LogFields = Record<string, unknown>;

export const REDACTED = '[redacted]';
/** Deeper than this, a value logs as `[depth]`. */
export const MAX_DEPTH = 6;
/** Strings longer than this are cut (a log line is no place for content, by mistake or not). */
export const MAX_STRING = 2048;
/** Array items beyond this are summarized. */
const MAX_ITEMS = 100;

/**
 * The last word of a field name (snake_case, kebab-case, camelCase or dotted) that makes it sensitive:
 * `key`, `data_key`, `dataKey`, `private-key`, `client.secret` are redacted; `key_uri`, `keyId`, `key_name`
 * are not (their last word is an identifier's).
 */
const SENSITIVE_WORDS = new Set([
  'key',
  'keys',
  'kek',
  'dek',
  'ik',
  'secret',
  'secrets',
  'plaintext',
  'ciphertext',
  'envelope',
  'envelopes',
  'token',
  'tokens',
  'password',
  'passphrase',
  'pin',
  'credential',
  'credentials',
  'authorization',
  'cookie',
  'chunk',
  'data',
  'bytes',
  'payload',
  'material',
  'pem',
]);

const sensitiveCache = new Map<string, boolean>();

/** Whether a field of this name is always redacted. */
export function isSensitiveName(name: string): boolean {
  let hit = sensitiveCache.get(name);
  if (hit === undefined) {
    const words = name
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter((w) => w.length > 0);
    hit = words.length > 0 && SENSITIVE_WORDS.has(words[words.length - 1]!);
    if (sensitiveCache.size < 10_000) sensitiveCache.set(name, hit);
  }
  return hit;
}

/** The fields with every sensitive name redacted and every value made safe to print (see the file's comment). */
export function redact(fields: LogFields): LogFields {
  return redactObject(fields, 0, new Set());
}

function redactObject(obj: object, depth: number, seen: Set<object>): LogFields {
  const out: LogFields = {};
  seen.add(obj);
  for (const [name, value] of Object.entries(obj)) {
    out[name] = isSensitiveName(name) ? REDACTED : safeValue(value, depth + 1, seen);
  }
  seen.delete(obj);
  return out;
}

function safeValue(value: unknown, depth: number, seen: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
      return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}...[${value.length} chars]` : value;
    case 'bigint':
      return value.toString();
    case 'symbol':
    case 'function':
      return `[${typeof value}]`;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return `[${value.byteLength} bytes]`;
  if (value instanceof Error) return describeError(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (seen.has(value)) return '[circular]';
  if (depth > MAX_DEPTH) return '[depth]';
  if (Array.isArray(value)) {
    seen.add(value);
    const items = value.slice(0, MAX_ITEMS).map((v) => safeValue(v, depth + 1, seen));
    if (value.length > MAX_ITEMS) items.push(`[${value.length - MAX_ITEMS} more]`);
    seen.delete(value);
    return items;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null) return redactObject(value, depth, seen);
  // A class instance (SecretKey, KeyObject, Map, a provider's client): its name, never its contents.
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  return `[${typeof name === 'string' && name ? name : 'object'}]`;
}

export interface ErrorDescription {
  name: string;
  code?: string;
  message: string;
  /** The cause chain: names and codes only. */
  cause?: { name: string; code?: string } | string;
}

/** An error's name, code and message, and its cause's name and code; never the cause's message or data. */
export function describeError(err: Error): ErrorDescription {
  const code = (err as { code?: unknown }).code;
  const out: ErrorDescription = { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message };
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const c = (cause as { code?: unknown }).code;
    out.cause = { name: cause.name, ...(typeof c === 'string' ? { code: c } : {}) };
  } else if (cause !== undefined) out.cause = `[${typeof cause}]`;
  if (out.message.length > MAX_STRING) out.message = `${out.message.slice(0, MAX_STRING)}...`;
  return out;
}

/** An error of any type as a log field: an Error as its description; anything else as text. */
export function errorField(err: unknown): ErrorDescription | string {
  if (err instanceof Error) return describeError(err);
  const safe = safeValue(err, 0, new Set());
  return typeof safe === 'string' ? safe : (JSON.stringify(safe) ?? String(safe));
}
