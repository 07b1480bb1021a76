import { UnwrapdError } from '../errors.js';
import { KEY_NAME_PATTERN, type KeyMap, type KeyRecord, type VersionRecord } from './keystore-format.js';

/**
 * The local keystore's rules over its records (local-keystore.ts): names, look-ups that fail with the
 * keystore's errors, the effective state of a version, and what `list()` shows (never key material).
 */

/** Effective state of a key version: deleted beats disabled (key or version) beats enabled. */
export type KeyState = 'enabled' | 'disabled' | 'deleted';

export interface KeyVersionInfo {
  version: number;
  bits: number;
  created: string;
  /** The version's own flag; see `state` for the effective one. */
  enabled: boolean;
  state: KeyState;
}

/** What `list()` shows: never key material. */
export interface KeyInfo {
  name: string;
  created: string;
  /** The key-level flag (disabling the key disables every version). */
  enabled: boolean;
  deleted: boolean;
  deletedAt?: string;
  latestVersion: number;
  versions: KeyVersionInfo[];
}

export function validateName(name: string): void {
  if (!KEY_NAME_PATTERN.test(name)) {
    throw new UnwrapdError(
      'invalid_argument',
      `invalid key name ${JSON.stringify(name.slice(0, 80))}: use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
}

export function refuseTaken(keys: KeyMap, name: string): void {
  const record = keys.get(name);
  if (!record) return;
  const why =
    record.deleted === undefined ? 'already exists' : 'was deleted, and names of deleted keys are never reused';
  throw new UnwrapdError('already_exists', `key "${name}" ${why}`);
}

export function refuseDeleted(record: KeyRecord, name: string, verb: string): KeyRecord {
  if (record.deleted !== undefined)
    throw new UnwrapdError('failed_precondition', `key "${name}" is deleted and cannot be ${verb}`);
  return record;
}

export function mustFind(keys: KeyMap, name: string, path: string): KeyRecord {
  const record = keys.get(name);
  if (!record)
    throw new UnwrapdError('not_found', `no key named ${JSON.stringify(name.slice(0, 80))} in keystore ${path}`);
  return record;
}

export function mustFindVersion(record: KeyRecord, name: string, version: number): VersionRecord {
  const v = record.versions.find((x) => x.version === version);
  if (!v)
    throw new UnwrapdError(
      'not_found',
      `key "${name}" has no version ${version} (latest is ${latest(record).version})`,
    );
  return v;
}

export function latest(record: KeyRecord): VersionRecord {
  const v = record.versions[record.versions.length - 1];
  if (!v) throw new UnwrapdError('internal', 'key record without versions'); // parseKeystore refuses these
  return v;
}

export function latestUsable(record: KeyRecord): VersionRecord {
  for (let i = record.versions.length - 1; i >= 0; i--) {
    const v = record.versions[i];
    if (v && stateOf(record, v) === 'enabled') return v;
  }
  return latest(record);
}

export function stateOf(record: KeyRecord, v: VersionRecord): KeyState {
  if (record.deleted !== undefined || v.privateKeyPem === undefined) return 'deleted';
  return record.enabled && v.enabled ? 'enabled' : 'disabled';
}

export function toInfo(name: string, record: KeyRecord): KeyInfo {
  const info: KeyInfo = {
    name,
    created: record.created,
    enabled: record.enabled,
    deleted: record.deleted !== undefined,
    latestVersion: latest(record).version,
    versions: record.versions.map((v) => ({
      version: v.version,
      bits: v.bits,
      created: v.created,
      enabled: v.enabled,
      state: stateOf(record, v),
    })),
  };
  if (record.deleted !== undefined) info.deletedAt = record.deleted;
  return info;
}
