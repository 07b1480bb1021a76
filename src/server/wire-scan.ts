import { isUtf8 } from 'node:buffer';
import { exhausted, malformed, Problem, WireRefusal } from './wire-refusal.js';

/**
 * A pre-scan of a request's protobuf wire bytes, run before protobufjs decodes them into objects.
 *
 * Decoding is where a hostile request costs: 4.6 MB of empty batch items becomes 2.3 million objects (seconds
 * of event loop, a GiB of heap) before any limit on them could be checked. This scan walks the bytes once,
 * allocates nothing per field, and stops at the first excess: an oversized request, too many items or context
 * entries, an overlong string, invalid UTF-8, a malformed or unknown field. It is strict where protobufjs is
 * lenient, so that whatever it accepts, protobufjs decodes to exactly what was scanned:
 *
 * - every field must be declared, with its declared wire type (protobufjs reads a known field by its declared
 *   type whatever the wire type says, and skips unknown ones);
 * - a singular field, or a second member of a oneof, at most once (protobufjs keeps the last, silently);
 * - a context map has no duplicate key (the last would win) and its strings are valid UTF-8 (protobufjs turns
 *   invalid sequences into U+FFFD, so different bytes would give one string);
 * - varints as protobufjs reads them: a 32-bit one has 1-5 bytes or exactly 10 (protobufjs skips bytes 6-10
 *   of a 32-bit varint unread, so any other length would desynchronise it from this scan); lengths and tags
 *   at most 5 bytes and below 2^32; no groups, no field number 0, nothing past the end.
 *
 * The rules (which fields, their kinds, per-field caps) are compiled from the proto descriptors by
 * src/server/wire-schema.ts; the limits per method come from src/server/request-limits.ts.
 */

export { WireRefusal };

export const enum Kind {
  Varint32,
  Varint64,
  Fixed64,
  Fixed32,
  String,
  Bytes,
  Message,
}

/** The wire type each kind must arrive with. */
const WIRE_TYPE: readonly number[] = [0, 0, 1, 5, 2, 2, 2];

export interface FieldRule {
  /** The proto field name (messages name fields, never their content). */
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** A map<string, string> field (an encryption context): entries counted, keys unique. */
  readonly map: boolean;
  /** Kind.Message (not a map): the nested message's rule. */
  readonly message: MessageRule | undefined;
  /** Kind.Bytes: the most bytes one occurrence may have, and the limit's name for the message. */
  readonly maxBytes?: { bytes: number; name: string };
  /** Kind.Bytes: counted toward the scan's payload (a batch's plaintext or envelope bytes). */
  readonly payload?: boolean;
  /** Members of one oneof share a group number above 0: at most one of them may be present. */
  readonly oneof: number;
}

export interface MessageRule {
  readonly name: string;
  /** Indexed by field number; undefined for a number the message does not declare. */
  readonly fields: readonly (FieldRule | undefined)[];
}

export interface ScanLimits {
  /** Most elements of one repeated field (a batch's items), and the limit's name. */
  maxItems: number;
  maxItemsName: string;
  /** Most entries in one context map. */
  maxMapEntries: number;
  /** Most bytes of any string field. */
  maxStringBytes: number;
}

/** What a scan counted, for the method-level checks after it (batch payload) and for tests. */
export interface ScanCounts {
  /** Elements of repeated (non-map) fields, over the whole request. */
  items: number;
  /** Context map entries, over the whole request. */
  mapEntries: number;
  /** Bytes of the fields marked `payload`. */
  payload: number;
}

/**
 * Scans `buf` as one `rule` message. Returns the counts, or the refusal for the first problem found. Never
 * throws (a bug here would otherwise become grpc-js's INTERNAL "Error deserializing request").
 */
export function scanRequest(
  buf: Uint8Array,
  rule: MessageRule,
  limits: ScanLimits,
  method: string,
): ScanCounts | WireRefusal {
  const counts: ScanCounts = { items: 0, mapEntries: 0, payload: 0 };
  try {
    scanMessage(buf, 0, buf.length, rule, limits, counts, '', -1);
    return counts;
  } catch (err) {
    if (err instanceof Problem) return new WireRefusal(err.code, `${method}: ${err.message}`, err.limit);
    return new WireRefusal('invalid_argument', `${method}: malformed request`);
  }
}

/** "items[3].context" for a field of the 4th element of `items`; just "context" at the top. */
function pathOf(prefix: string, index: number, name: string): string {
  if (prefix === '') return name;
  return index < 0 ? `${prefix}.${name}` : `${prefix}[${index}].${name}`;
}

function scanMessage(
  buf: Uint8Array,
  pos: number,
  end: number,
  rule: MessageRule,
  limits: ScanLimits,
  counts: ScanCounts,
  prefix: string,
  index: number,
): void {
  let seen = 0; // singular field numbers 1..31 already present
  let seenHigh: Set<number> | undefined; // the same above 31
  let oneofs = 0; // oneof groups already present
  let repeated = 0; // elements of repeated fields in this message
  let keys: number[] | undefined; // [start, end, ...] of this message's context keys, for duplicates
  const fields = rule.fields;
  while (pos < end) {
    let tag = buf[pos++]!;
    if (tag >= 0x80) {
      tag = readVarint32(buf, pos - 1, end);
      pos = cursor;
    }
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = no < fields.length ? fields[no] : undefined;
    if (f === undefined) throw malformed(`${no === 0 ? 'field number 0' : `unknown field ${no}`} in ${rule.name}`);
    const packed = f.repeated && f.kind < Kind.String && wire === 2;
    if (wire !== WIRE_TYPE[f.kind] && !packed)
      throw malformed(`${pathOf(prefix, index, f.name)} has wire type ${wire}`);
    if (!f.repeated) {
      if (no < 32) {
        const bit = 1 << no;
        if (seen & bit) throw malformed(`${pathOf(prefix, index, f.name)} appears twice`);
        seen |= bit;
      } else {
        seenHigh ??= new Set();
        if (seenHigh.has(no)) throw malformed(`${pathOf(prefix, index, f.name)} appears twice`);
        seenHigh.add(no);
      }
      if (f.oneof > 0) {
        const bit = 1 << f.oneof;
        if (oneofs & bit) throw malformed(`${pathOf(prefix, index, f.name)} is a second member of a oneof`);
        oneofs |= bit;
      }
    }
    if (wire === 0) {
      pos = skipVarint(buf, pos, end, f.kind !== Kind.Varint64);
      continue;
    }
    if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > end) throw malformed(`${pathOf(prefix, index, f.name)} is truncated`);
      continue;
    }
    // Length-delimited.
    if (pos >= end) throw malformed(`${pathOf(prefix, index, f.name)} is truncated`);
    let len = buf[pos++]!;
    if (len >= 0x80) {
      len = readVarint32(buf, pos - 1, end);
      pos = cursor;
    }
    const start = pos;
    if (len > end - pos) throw malformed(`${pathOf(prefix, index, f.name)} is truncated`);
    pos += len;
    if (packed) {
      // Packed repeated scalars: protobufjs decodes the run; only its elements are counted here.
      repeated += len;
      if (repeated > limits.maxItems)
        throw exhausted(
          `${pathOf(prefix, index, f.name)}: more than ${limits.maxItems} elements exceed ${limits.maxItemsName} (${limits.maxItems})`,
          { name: limits.maxItemsName, value: limits.maxItems },
        );
      continue;
    }
    switch (f.kind) {
      case Kind.String:
        checkString(buf, start, pos, limits, prefix, index, f.name);
        break;
      case Kind.Bytes:
        if (f.maxBytes && len > f.maxBytes.bytes) {
          throw exhausted(
            `${pathOf(prefix, index, f.name)} of ${len} bytes exceeds ${f.maxBytes.name} (${f.maxBytes.bytes})`,
            { name: f.maxBytes.name, value: f.maxBytes.bytes },
          );
        }
        if (f.payload) counts.payload += len;
        break;
      default:
        if (f.map) {
          const entries = (keys ??= []).length / 2 + 1;
          if (entries > limits.maxMapEntries) {
            throw exhausted(
              `${pathOf(prefix, index, f.name)}: more than ${limits.maxMapEntries} entries exceed the context limit (${limits.maxMapEntries})`,
              { name: 'maxContextEntries', value: limits.maxMapEntries },
            );
          }
          counts.mapEntries++;
          scanMapEntry(buf, start, pos, keys, limits, pathOf(prefix, index, f.name));
        } else if (f.repeated) {
          if (++repeated > limits.maxItems) {
            throw exhausted(
              `${limits.maxItems + 1} or more ${f.name} exceed ${limits.maxItemsName} (${limits.maxItems})`,
              { name: limits.maxItemsName, value: limits.maxItems },
            );
          }
          counts.items++;
          scanMessage(
            buf,
            start,
            pos,
            f.message!,
            limits,
            counts,
            prefix === '' ? f.name : pathOf(prefix, index, f.name),
            repeated - 1,
          );
        } else {
          scanMessage(buf, start, pos, f.message!, limits, counts, pathOf(prefix, index, f.name), -1);
        }
    }
  }
}

/** One map<string, string> entry: key (1) and value (2), each at most once; the key must not repeat. */
function scanMapEntry(
  buf: Uint8Array,
  pos: number,
  end: number,
  keys: number[],
  limits: ScanLimits,
  path: string,
): void {
  let keyStart = pos;
  let keyEnd = pos; // an absent key is the empty string
  let seen = 0;
  while (pos < end) {
    const tag = buf[pos++]!;
    if (tag !== 0x0a && tag !== 0x12) throw malformed(`${path} has an entry with a field other than its key and value`);
    const bit = tag === 0x0a ? 1 : 2;
    if (seen & bit) throw malformed(`${path} has an entry with two ${bit === 1 ? 'keys' : 'values'}`);
    seen |= bit;
    if (pos >= end) throw malformed(`${path} has a truncated entry`);
    let len = buf[pos++]!;
    if (len >= 0x80) {
      len = readVarint32(buf, pos - 1, end);
      pos = cursor;
    }
    if (len > end - pos) throw malformed(`${path} has a truncated entry`);
    checkString(buf, pos, pos + len, limits, '', -1, bit === 1 ? `${path} key` : `${path} value`);
    if (bit === 1) {
      keyStart = pos;
      keyEnd = pos + len;
    }
    pos += len;
  }
  for (let i = 0; i < keys.length; i += 2) {
    if (sameBytes(buf, keys[i]!, keys[i + 1]!, keyStart, keyEnd)) throw malformed(`${path} has a duplicate key`);
  }
  keys.push(keyStart, keyEnd);
}

function sameBytes(buf: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (; a < aEnd; a++, b++) if (buf[a] !== buf[b]) return false;
  return true;
}

/** A string field: at most maxStringBytes, and valid UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
function checkString(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: ScanLimits,
  prefix: string,
  index: number,
  name: string,
): void {
  if (end - start > limits.maxStringBytes) {
    throw exhausted(
      `${pathOf(prefix, index, name)} is ${end - start} bytes; string fields are at most ${limits.maxStringBytes} bytes (maxStringBytes)`,
      { name: 'maxStringBytes', value: limits.maxStringBytes },
    );
  }
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      if (!isUtf8(buf.subarray(start, end))) throw malformed(`${pathOf(prefix, index, name)} is not valid UTF-8`);
      return;
    }
  }
}

/** Where the last readVarint32 ended (module state instead of a result object: no allocation per field). */
let cursor = 0;

/** A tag or a length: at most 5 bytes, below 2^32. `pos` is at its first byte; sets `cursor` past its last. */
function readVarint32(buf: Uint8Array, pos: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let n = 0; n < 5; n++) {
    if (pos >= end) throw malformed('truncated varint');
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) {
      if (value > 0xffffffff) break;
      cursor = pos;
      return value;
    }
  }
  throw malformed('varint tag or length out of range');
}

/**
 * Skips a varint scalar. A 32-bit kind has 1-5 bytes or exactly 10 (a negative int32); protobufjs reads 5
 * and skips 5 more unread, so no other length may pass. A 64-bit kind has 1-10 bytes.
 */
function skipVarint(buf: Uint8Array, pos: number, end: number, is32: boolean): number {
  for (let n = 1; n <= 10; n++) {
    if (pos >= end) throw malformed('truncated varint');
    if (buf[pos++]! < 0x80) {
      if (is32 && n > 5 && n < 10) throw malformed('a 32-bit varint of an unexpected length');
      return pos;
    }
  }
  throw malformed('varint longer than 10 bytes');
}
