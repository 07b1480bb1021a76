import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isUnwrapdError, UnwrapdError } from '../errors.js';
import { errnoCode, MISSING_STAMP, readStamped, stampOf, statOrMissing } from '../storage/file-stamp.js';
import { withFileLock } from '../storage/file-lock.js';
import { replaceScrubbing } from '../storage/scrubbing-replace.js';
import { newRsaPrivateKeyPem, type KeyBits } from './rsa-keygen.js';
import {
  checkFile,
  parseKeystore,
  serialize,
  type KeyMap,
  type KeyRecord,
  type VersionRecord,
} from './keystore-format.js';
import {
  latest,
  latestUsable,
  mustFind,
  mustFindVersion,
  refuseDeleted,
  refuseTaken,
  stateOf,
  toInfo,
  validateName,
  type KeyInfo,
  type KeyState,
} from './keystore-records.js';

export { KEY_NAME_PATTERN, KEYSTORE_FORMAT } from './keystore-format.js';
export type { KeyInfo, KeyState, KeyVersionInfo } from './keystore-records.js';

/**
 * The local keystore: RSA root keys in one JSON file, the embedded default behind the `local:` provider and
 * the `unwrapd keys ...` commands.
 *
 * File: keystore-format.ts, private keys as PKCS#8 PEM; rules over its records: keystore-records.ts. The file is mode 0600 in a directory created 0700;
 * a file readable or writable by group or others is refused.
 *
 * Concurrency: every write takes `<path>.lock`, re-reads the file, changes it and replaces it atomically,
 * so commands in other processes never lose each other's changes. Readers stat the file on every call and
 * re-read it only when it changed (inode, size, mtime, ctime), so a `keys disable` in another process takes
 * effect on the next call.
 *
 * Deletion is soft and irreversible: the key's record stays (its name is never reused, so a new key can
 * never be mistaken for the old one) but every version's private key is removed from the file. Each write
 * also overwrites the superseded file's bytes with zeros, through a handle opened before the atomic rename,
 * and fsyncs them; `destroyKey` (Purge's crypto-shredding) reports that it did (best effort: a copy-on-write
 * filesystem, SSD wear levelling, backups or a hard link made by someone else can still hold old bytes;
 * put the keystore on an encrypted volume if that matters). The PEM text of a loaded key stays in this
 * process's memory (JS strings cannot be zeroed) until the snapshot holding it is dropped.
 */
export type { KeyBits } from './rsa-keygen.js';
export const DEFAULT_KEY_BITS: KeyBits = 3072;

export interface KeyVersionEntry {
  name: string;
  version: number;
  bits: number;
  created: string;
  state: KeyState;
  /** Present only when `state` is 'enabled'. */
  privateKey?: KeyObject;
}

export interface LocalKeystoreOptions {
  /** Skip the group/world permission check (tests on filesystems without modes only). */
  allowInsecurePermissions?: boolean;
  now?: () => Date;
}

export interface LocalKeystore {
  readonly path: string;
  /** Generates an RSA key (3072 bits by default) as version 1. Names are never reused, even after delete. */
  createKey(name: string, opts?: { bits?: KeyBits }): Promise<KeyInfo>;
  /** Adds version n+1 (same size as the latest); older versions stay usable for what they wrap. */
  rotateKey(name: string): Promise<KeyInfo>;
  /** Without `version`, flips the key-level flag (all versions); with it, that version's own flag. */
  setEnabled(name: string, enabled: boolean, version?: number): Promise<KeyInfo>;
  /** Soft delete: marks the key deleted and removes every version's private key. Irreversible; idempotent. */
  deleteKey(name: string): Promise<KeyInfo>;
  /**
   * deleteKey for crypto-shredding: says whether the key was already deleted, and whether the superseded
   * keystore file (the last one holding the private key) was overwritten with zeros and fsynced.
   */
  destroyKey(name: string): Promise<{ info: KeyInfo; alreadyDeleted: boolean; scrubbedBytes: number }>;
  list(): Promise<KeyInfo[]>;
  /**
   * One version: the given one, or without `version` the latest enabled one (or the latest, when none is
   * enabled, so its state tells why). Throws UnwrapdError 'not_found' for a missing key or version; any
   * other code means the keystore itself could not be read.
   */
  get(name: string, version?: number): Promise<KeyVersionEntry>;
  /** Drops the in-memory snapshot (and the private keys it holds). The handle can still be used. */
  close(): void;
}

interface Snapshot {
  signature: string;
  keys: KeyMap;
  privateKeys: Map<string, KeyObject>;
}

export function openLocalKeystore(path: string, opts: LocalKeystoreOptions = {}): LocalKeystore {
  const now = opts.now ?? (() => new Date());
  let cached: Snapshot | undefined;

  async function current(): Promise<Snapshot> {
    const info = await keystoreStat(path);
    if (cached && cached.signature === stampOf(info)) return cached;
    cached = await load();
    return cached;
  }

  async function load(): Promise<Snapshot> {
    for (let attempt = 0; ; attempt++) {
      let read;
      try {
        read = await readStamped(path, (info) => checkFile(path, info, opts.allowInsecurePermissions === true));
      } catch (err) {
        throw isUnwrapdError(err) ? err : unreadable(path, err);
      }
      if (!read) return { signature: MISSING_STAMP, keys: new Map(), privateKeys: new Map() };
      try {
        return { signature: read.stamp, keys: parseKeystore(read.text, path), privateKeys: new Map() };
      } catch (err) {
        // A writer may have replaced and scrubbed the file we opened: read the new one.
        if (attempt < 3 && stampOf(await keystoreStat(path)) !== read.stamp) continue;
        throw err;
      }
    }
  }

  async function mutate<T>(change: (keys: KeyMap) => T): Promise<T> {
    return (await mutateScrubbing(change)).result;
  }

  async function mutateScrubbing<T>(change: (keys: KeyMap) => T): Promise<{ result: T; scrubbedBytes: number }> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return withFileLock(`${path}.lock`, async () => {
      const keys = (await load()).keys;
      const result = change(keys);
      const scrubbedBytes = await replaceScrubbing(path, serialize(keys));
      cached = undefined;
      return { result, scrubbedBytes };
    });
  }

  async function existing(name: string): Promise<KeyRecord> {
    return mustFind((await current()).keys, name, path);
  }

  return {
    path,

    async createKey(name, { bits = DEFAULT_KEY_BITS } = {}) {
      validateName(name);
      if (bits !== 3072 && bits !== 4096)
        throw new UnwrapdError('invalid_argument', `key size ${String(bits)} is not allowed: use 3072 or 4096`);
      refuseTaken((await current()).keys, name);
      const pem = await newRsaPrivateKeyPem(bits); // slow: outside the lock
      return mutate((keys) => {
        refuseTaken(keys, name);
        const created = now().toISOString();
        const record: KeyRecord = {
          created,
          enabled: true,
          versions: [{ version: 1, bits, created, enabled: true, privateKeyPem: pem }],
        };
        keys.set(name, record);
        return toInfo(name, record);
      });
    },

    async rotateKey(name) {
      const previous = latest(refuseDeleted(await existing(name), name, 'rotated')).bits;
      const bits: KeyBits = previous === 4096 ? 4096 : DEFAULT_KEY_BITS; // never below the minimum
      const pem = await newRsaPrivateKeyPem(bits);
      return mutate((keys) => {
        const record = refuseDeleted(mustFind(keys, name, path), name, 'rotated');
        const version = latest(record).version + 1;
        record.versions.push({ version, bits, created: now().toISOString(), enabled: true, privateKeyPem: pem });
        return toInfo(name, record);
      });
    },

    async setEnabled(name, enabled, version) {
      return mutate((keys) => {
        const record = refuseDeleted(mustFind(keys, name, path), name, enabled ? 'enabled' : 'disabled');
        if (version === undefined) record.enabled = enabled;
        else mustFindVersion(record, name, version).enabled = enabled;
        return toInfo(name, record);
      });
    },

    async deleteKey(name) {
      return mutate((keys) => {
        const record = mustFind(keys, name, path);
        if (record.deleted === undefined) record.deleted = now().toISOString();
        for (const v of record.versions) delete v.privateKeyPem;
        return toInfo(name, record);
      });
    },

    async destroyKey(name) {
      const { result, scrubbedBytes } = await mutateScrubbing((keys) => {
        const record = mustFind(keys, name, path);
        const alreadyDeleted =
          record.deleted !== undefined && record.versions.every((v) => v.privateKeyPem === undefined);
        if (record.deleted === undefined) record.deleted = now().toISOString();
        for (const v of record.versions) delete v.privateKeyPem;
        return { info: toInfo(name, record), alreadyDeleted };
      });
      return { ...result, scrubbedBytes };
    },

    async list() {
      const { keys } = await current();
      return [...keys.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, record]) => toInfo(name, record));
    },

    async get(name, version) {
      const snapshot = await current();
      const record = mustFind(snapshot.keys, name, path);
      const v = version === undefined ? latestUsable(record) : mustFindVersion(record, name, version);
      const state = stateOf(record, v);
      const entry: KeyVersionEntry = { name, version: v.version, bits: v.bits, created: v.created, state };
      if (state === 'enabled') entry.privateKey = privateKeyOf(snapshot, name, v, path);
      return entry;
    },

    close() {
      cached = undefined;
    },
  };
}

// ---- private keys -------------------------------------------------------------------------------------

function privateKeyOf(snapshot: Snapshot, name: string, v: VersionRecord, path: string): KeyObject {
  const id = `${name}/${v.version}`;
  const known = snapshot.privateKeys.get(id);
  if (known) return known;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: v.privateKeyPem ?? '', format: 'pem' });
  } catch {
    throw new UnwrapdError('internal', `keystore ${path}: the private key of "${id}" cannot be parsed`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new UnwrapdError('internal', `keystore ${path}: "${id}" is not an RSA key`);
  snapshot.privateKeys.set(id, key);
  return key;
}

// ---- the file (its format: keystore-format.ts) ----------------------------------------------------------

async function keystoreStat(path: string) {
  return statOrMissing(path).catch((err: unknown) => Promise.reject(unreadable(path, err)));
}

function unreadable(path: string, err: unknown): UnwrapdError {
  const code = errnoCode(err) ?? 'unknown error';
  return new UnwrapdError('unavailable', `keystore ${path} cannot be read (${code})`, { cause: err });
}
