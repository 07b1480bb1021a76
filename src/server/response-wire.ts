import type * as grpc from '@grpc/grpc-js';

/**
 * Hand-written response encoders for the messages that carry the bulk of the bytes: the responses of
 * EncryptStream and DecryptStream, and the results of EncryptBatch and DecryptBatch when every item succeeded.
 * Each is written into one buffer sized up front, every payload copied once: a sealed segment goes from the
 * cipher's output ([ciphertext, tag]) straight into the message, instead of being joined first and then copied
 * again by protobufjs's writer; a batch needs no per-item message objects (protobufjs's fromObject) nor a
 * writer operation per field.
 *
 *   EncryptStreamResponse, EncryptResponse  { bytes data|envelope = 1; uint32 key_version = 2; }
 *   DecryptStreamResponse, DecryptResponse  { bytes plaintext = 1; string policy_id = 2; uint32 key_version = 3; }
 *   EncryptBatchResponse, DecryptBatchResponse  { repeated { oneof result { <response> ok = 1; ItemError error = 2; } } results = 1; }
 *
 * Zero and empty values are left out (proto3's defaults; every decoder reads them so). A response of another
 * shape (a batch with an item error, anything this file does not know) goes to the generated encoder
 * unchanged; a payload in parts never does (the generated encoder would not know it), so one that does not fit
 * fails the call (grpc-js answers INTERNAL).
 */

/** The payload of one response: a buffer, or its parts in order (a segment's ciphertext and tag). */
export type Payload = Buffer | readonly Buffer[];

export interface EncryptStreamWire {
  data: Payload;
  keyVersion: number;
}

/** The fields of one message of either layout: field 1 the payload, an optional field 2 text, a version. */
interface Fields {
  payload: Payload;
  text: string | undefined;
  versionField: number;
  version: number;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    out[off++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[off++] = n;
  return off;
}

function payloadLength(p: Payload): number {
  if (Buffer.isBuffer(p)) return p.length;
  let n = 0;
  for (const b of p) n += b.length;
  return n;
}

/** A length-delimited field's key, length and body: the bytes it takes around a body of `n`. */
const delimited = (n: number) => 1 + varintLength(n) + n;

function sizeOf(f: Fields): number {
  const size = payloadLength(f.payload);
  const text = f.text ? Buffer.byteLength(f.text) : 0;
  return (
    (size > 0 ? delimited(size) : 0) +
    (text > 0 ? delimited(text) : 0) +
    (f.version > 0 ? 1 + varintLength(f.version) : 0)
  );
}

function writeFields(out: Buffer, off: number, f: Fields): number {
  const size = payloadLength(f.payload);
  if (size > 0) {
    out[off++] = (1 << 3) | 2;
    off = writeVarint(out, off, size);
    if (Buffer.isBuffer(f.payload)) off += f.payload.copy(out, off);
    else for (const b of f.payload) off += b.copy(out, off);
  }
  const text = f.text ? Buffer.byteLength(f.text) : 0;
  if (text > 0) {
    out[off++] = (2 << 3) | 2;
    off = writeVarint(out, off, text);
    off += out.write(f.text as string, off, 'utf8');
  }
  if (f.version > 0) {
    out[off++] = f.versionField << 3;
    off = writeVarint(out, off, f.version);
  }
  return off;
}

function encodeOne(f: Fields): Buffer {
  const out = Buffer.allocUnsafe(sizeOf(f));
  writeFields(out, 0, f);
  return out;
}

/** `results` of a batch response, each `{ ok: <response> }`: field 1 per result, holding field 1 (ok). */
function encodeResults(items: readonly Fields[]): Buffer {
  const inner = items.map(sizeOf);
  let total = 0;
  for (const n of inner) total += delimited(delimited(n));
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  items.forEach((f, i) => {
    const n = inner[i] as number;
    out[off++] = (1 << 3) | 2;
    off = writeVarint(out, off, delimited(n));
    out[off++] = (1 << 3) | 2;
    off = writeVarint(out, off, n);
    off = writeFields(out, off, f);
  });
  return out;
}

// ---- shapes ------------------------------------------------------------------------------------------------

function isUint32(n: unknown): boolean {
  return n === undefined || (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
}

/**
 * The fields of `m` if it has exactly the layout's keys, with a Buffer or parts as payload; undefined for
 * another shape (the generated encoder's). Parts that do not fit throw: only these encoders know parts.
 */
function fieldsOf(m: unknown, payload: string, text: string | undefined, versionField: number): Fields | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as Record<string, unknown>;
  const p = r[payload];
  let ok = isUint32(r.keyVersion) && (text === undefined || r[text] === undefined || typeof r[text] === 'string');
  for (const k in r) if (k !== payload && k !== text && k !== 'keyVersion') ok = false;
  const parts = Array.isArray(p);
  if (parts && !(ok && p.every((b) => Buffer.isBuffer(b)))) throw new Error('a response in parts of an unknown shape');
  if (!ok || !(parts || Buffer.isBuffer(p))) return undefined;
  return {
    payload: p as Payload,
    text: text === undefined ? undefined : (r[text] as string | undefined),
    versionField,
    version: (r.keyVersion as number | undefined) ?? 0,
  };
}

const encryptFields = (m: unknown, payload: string) => fieldsOf(m, payload, undefined, 2);
const decryptFields = (m: unknown, payload: string) => fieldsOf(m, payload, 'policyId', 3);

/** A batch response whose every result is `{ ok }` of the layout; undefined otherwise (an item error). */
function batchFields(m: unknown, each: (ok: unknown) => Fields | undefined): Fields[] | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const results = (m as { results?: unknown }).results;
  if (!Array.isArray(results) || Object.keys(m).length !== 1) return undefined;
  const out: Fields[] = new Array(results.length);
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as { ok?: unknown } | null;
    if (typeof r !== 'object' || r === null || Object.keys(r).length !== 1 || r.ok === undefined) return undefined;
    const f = each(r.ok);
    if (!f) return undefined;
    out[i] = f;
  }
  return out;
}

const ENCODERS: Record<string, (m: unknown) => Buffer | undefined> = {
  EncryptStream: (m) => {
    const f = encryptFields(m, 'data');
    return f && encodeOne(f);
  },
  DecryptStream: (m) => {
    const f = decryptFields(m, 'plaintext');
    return f && encodeOne(f);
  },
  EncryptBatch: (m) => {
    const items = batchFields(m, (ok) => encryptFields(ok, 'envelope'));
    return items && encodeResults(items);
  },
  DecryptBatch: (m) => {
    const items = batchFields(m, (ok) => decryptFields(ok, 'plaintext'));
    return items && encodeResults(items);
  },
};

/**
 * A copy of the Crypto service definition whose stream and batch methods encode responses with the above. A
 * definition without one of them is refused: the generated encoder would write its parts as an empty field.
 */
export function withResponseEncoders(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...service };
  for (const [name, encoder] of Object.entries(ENCODERS)) {
    const method = service[name];
    if (!method) throw new Error(`the service definition has no ${name} method to give its response encoder`);
    const generated = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (m: unknown) => encoder(m) ?? generated(m) };
  }
  return out as grpc.ServiceDefinition;
}
