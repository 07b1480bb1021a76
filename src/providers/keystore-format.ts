import type { BigIntStats } from 'node:fs';
import { UnwrapdError } from '../errors.js';

/**
 * The local keystore's file format (local-keystore.ts): `{ "format": "unwrapd-keystore/1", "keys": {
 * "<name>": { created, enabled, deleted?, versions: [ { version, bits, created, enabled, privateKeyPem? } ] }
 * } }`, private keys as PKCS#8 PEM, mode 0600. Parsing checks every field and never quotes the parser's
 * message or the content (it could quote key material).
 */
export const KEYSTORE_FORMAT = 'unwrapd-keystore/1';
export const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface VersionRecord {
  version: number;
  bits: number;
  created: string;
  enabled: boolean;
  privateKeyPem?: string;
}

export interface KeyRecord {
  created: string;
  enabled: boolean;
  deleted?: string;
  versions: VersionRecord[];
}

export type KeyMap = Map<string, KeyRecord>;

/** A keystore file must be a regular file that group and others cannot access (it holds private keys). */
export function checkFile(path: string, info: BigIntStats, allowInsecure: boolean): void {
  if (!info.isFile()) throw new UnwrapdError('failed_precondition', `keystore ${path} is not a regular file`);
  const mode = Number(info.mode & 0o777n);
  if (!allowInsecure && (mode & 0o077) !== 0) {
    throw new UnwrapdError(
      'failed_precondition',
      `keystore ${path} has mode ${mode.toString(8).padStart(4, '0')}: it holds private keys and must not be accessible to group or others; fix it with: chmod 600 ${path}`,
    );
  }
}

export function serialize(keys: KeyMap): string {
  const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${JSON.stringify({ format: KEYSTORE_FORMAT, keys: Object.fromEntries(sorted) }, null, 2)}\n`;
}

export function parseKeystore(text: string, path: string): KeyMap {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed(path, 'it is not valid JSON');
  }
  if (!isObject(doc) || doc.format !== KEYSTORE_FORMAT) throw malformed(path, `"format" is not "${KEYSTORE_FORMAT}"`);
  if (!isObject(doc.keys)) throw malformed(path, '"keys" is not an object');
  const keys: KeyMap = new Map();
  for (const [name, raw] of Object.entries(doc.keys)) {
    if (!KEY_NAME_PATTERN.test(name)) throw malformed(path, 'a key has an invalid name');
    keys.set(name, parseKey(raw, `keys.${name}`, path));
  }
  return keys;
}

function parseKey(raw: unknown, at: string, path: string): KeyRecord {
  if (!isObject(raw)) throw malformed(path, `${at} is not an object`);
  const record: KeyRecord = {
    created: field(raw, 'created', 'string', at, path),
    enabled: field(raw, 'enabled', 'boolean', at, path),
    versions: [],
  };
  if (raw.deleted !== undefined) record.deleted = field(raw, 'deleted', 'string', at, path);
  if (!Array.isArray(raw.versions) || raw.versions.length === 0)
    throw malformed(path, `${at}.versions is not a non-empty array`);
  raw.versions.forEach((v: unknown, i: number) => record.versions.push(parseVersion(v, `${at}.versions[${i}]`, path)));
  record.versions.sort((a, b) => a.version - b.version);
  record.versions.forEach((v, i) => {
    if (i > 0 && record.versions[i - 1]?.version === v.version)
      throw malformed(path, `${at} has version ${v.version} twice`);
  });
  return record;
}

function parseVersion(raw: unknown, at: string, path: string): VersionRecord {
  if (!isObject(raw)) throw malformed(path, `${at} is not an object`);
  const v: VersionRecord = {
    version: field(raw, 'version', 'number', at, path),
    bits: field(raw, 'bits', 'number', at, path),
    created: field(raw, 'created', 'string', at, path),
    enabled: field(raw, 'enabled', 'boolean', at, path),
  };
  if (!Number.isSafeInteger(v.version) || v.version < 1)
    throw malformed(path, `${at}.version is not a positive integer`);
  if (raw.privateKeyPem !== undefined) v.privateKeyPem = field(raw, 'privateKeyPem', 'string', at, path);
  return v;
}

interface FieldTypes {
  string: string;
  number: number;
  boolean: boolean;
}

function field<K extends keyof FieldTypes>(
  obj: Record<string, unknown>,
  name: string,
  type: K,
  at: string,
  path: string,
): FieldTypes[K] {
  const value = obj[name];
  if (typeof value !== type) throw malformed(path, `${at}.${name} is not a ${type}`);
  return value as FieldTypes[K];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(path: string, what: string): UnwrapdError {
  return new UnwrapdError('internal', `keystore ${path} is malformed: ${what}`);
}
