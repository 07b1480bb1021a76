import { invalidArgument } from '../errors.js';

/**
 * Caller-supplied, non-secret context (mailbox id, site id, object id, ...) bound to a block as AAD: a block
 * sealed under one context opens only under the identical context (same keys, same values; order irrelevant).
 */
export type EncryptionContext = Readonly<Record<string, string>>;

export const MAX_CONTEXT_ENTRIES = 32;
export const MIN_CONTEXT_KEY_BYTES = 1;
export const MAX_CONTEXT_KEY_BYTES = 128;
export const MAX_CONTEXT_VALUE_BYTES = 1024;
/** Bound on the whole canonical encoding (count + all length prefixes + keys + values). */
export const MAX_CONTEXT_ENCODED_BYTES = 16 * 1024;

/**
 * True when `s` has no unpaired UTF-16 surrogate. Exactly these strings are sequences of Unicode scalar values,
 * which UTF-8 encodes losslessly and injectively; a lone surrogate would encode as U+FFFD, like U+FFFD itself.
 */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed(); // ES2024, Node 20
}

const EMPTY_ENCODING_LENGTH = 2;

/**
 * Orders strings by code point, which is exactly the order of their UTF-8 bytes. Plain `<` on JS strings
 * compares UTF-16 code units, which differs for non-BMP characters (surrogates 0xD800..0xDFFF sort below
 * 0xE000..0xFFFF in UTF-16 but above them in UTF-8), so the first differing unit is remapped.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Validates `ctx` and returns its keys sorted in UTF-8 byte order plus the total encoded length. Throws
 * invalidArgument naming the problem; messages carry positions, sizes and limits only, never the keys or
 * values themselves (they may be customer data).
 */
function checkContext(ctx: EncryptionContext): { keys: string[]; total: number } {
  if (ctx === null || typeof ctx !== 'object' || Array.isArray(ctx)) {
    throw invalidArgument('encryption context must be a map of string keys to string values', 'INVALID_CONTEXT');
  }
  const keys = Object.keys(ctx);
  if (keys.length > MAX_CONTEXT_ENTRIES) {
    throw invalidArgument(
      `encryption context has ${keys.length} entries; at most ${MAX_CONTEXT_ENTRIES} are allowed`,
      'INVALID_CONTEXT',
    );
  }
  let total = EMPTY_ENCODING_LENGTH;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v: unknown = ctx[k];
    if (typeof v !== 'string') {
      throw invalidArgument(`encryption context value #${i + 1} is not a string`, 'INVALID_CONTEXT');
    }
    // Lone surrogates would UTF-8 encode as U+FFFD, so two different maps could encode alike: reject them.
    if (!isWellFormed(k)) {
      throw invalidArgument(
        `encryption context key #${i + 1} is not well-formed Unicode (unpaired surrogate)`,
        'INVALID_CONTEXT',
      );
    }
    if (!isWellFormed(v)) {
      throw invalidArgument(
        `encryption context value #${i + 1} is not well-formed Unicode (unpaired surrogate)`,
        'INVALID_CONTEXT',
      );
    }
    const keyLen = Buffer.byteLength(k, 'utf8');
    if (keyLen < MIN_CONTEXT_KEY_BYTES || keyLen > MAX_CONTEXT_KEY_BYTES) {
      throw invalidArgument(
        `encryption context key #${i + 1} is ${keyLen} bytes of UTF-8; keys must be ` +
          `${MIN_CONTEXT_KEY_BYTES}..${MAX_CONTEXT_KEY_BYTES} bytes`,
        'INVALID_CONTEXT',
      );
    }
    const valueLen = Buffer.byteLength(v, 'utf8');
    if (valueLen > MAX_CONTEXT_VALUE_BYTES) {
      throw invalidArgument(
        `encryption context value #${i + 1} is ${valueLen} bytes of UTF-8; values must be at most ` +
          `${MAX_CONTEXT_VALUE_BYTES} bytes`,
        'INVALID_CONTEXT',
      );
    }
    total += 4 + keyLen + valueLen;
  }
  if (total > MAX_CONTEXT_ENCODED_BYTES) {
    throw invalidArgument(
      `encryption context encodes to ${total} bytes; at most ${MAX_CONTEXT_ENCODED_BYTES} are allowed`,
      'INVALID_CONTEXT',
    );
  }
  if (keys.length > 1) keys.sort(compareUtf8);
  return { keys, total };
}

/** Throws invalidArgument (with a message naming the problem) unless `ctx` is within every limit. */
export function validateContext(ctx: EncryptionContext): void {
  checkContext(ctx);
}

/**
 * Canonical, injective encoding (validates first):
 *   u16 BE count, then per entry in ascending order of the key's UTF-8 bytes:
 *   u16 BE keyLen, key (UTF-8), u16 BE valueLen, value (UTF-8).
 * The empty context encodes as 0x0000. Every length is bounded well below 2^16 by the limits above.
 */
export function encodeContext(ctx: EncryptionContext): Buffer {
  const { keys, total } = checkContext(ctx);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt16BE(keys.length, 0);
  let off = EMPTY_ENCODING_LENGTH;
  for (const k of keys) {
    const keyLen = out.write(k, off + 2, 'utf8');
    out.writeUInt16BE(keyLen, off);
    off += 2 + keyLen;
    const valueLen = out.write(ctx[k] as string, off + 2, 'utf8');
    out.writeUInt16BE(valueLen, off);
    off += 2 + valueLen;
  }
  if (off !== total) throw new Error('encryption context encoding length mismatch'); // unreachable
  return out;
}
