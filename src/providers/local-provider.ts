import { constants, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { decodeOaepSha256 } from '../crypto/rsa-oaep.js';
import type { SecretKey } from '../crypto/secret-key.js';
import { isUnwrapdError } from '../errors.js';
import { KEY_NAME_PATTERN, openLocalKeystore, type KeyVersionEntry } from './local-keystore.js';
import { isProviderError, providerError, type ProviderError } from './provider-error.js';
import { randomBytes } from 'node:crypto';
import { isKeyBase, keyNameFromHint } from './key-base.js';
import type {
  CallOptions,
  DestructionConfirmation,
  KeyStatus,
  ResolvedKey,
  RootKeyProvider,
  WrappedKey,
} from './root-key-provider.js';
import { raceAbort } from '../race-abort.js';

/**
 * The `local:` root-key provider over the local keystore (src/providers/local-keystore.ts).
 *
 * Key URIs: `local:<name>` (the latest enabled version) or `local:<name>/<version>`. Wrapping is RSA-OAEP
 * with SHA-256 (MGF1-SHA-256). Every call stats the keystore file and re-reads it only when it changed, so
 * `unwrapd keys disable` in another process takes effect on the next call.
 *
 * Classification: missing key or version -> key_not_found; disabled -> key_disabled; deleted ->
 * key_deleted; the key refuses the ciphertext -> unwrap_rejected; keystore unreadable, malformed or with
 * unsafe permissions -> server_error (unavailable); caller's signal aborted -> aborted (unavailable).
 *
 * createKey (base `local:`) generates a new RSA-3072 key named after the hint with a random suffix.
 * destroyKey deletes the key (every version's private key leaves the file; the name is never reused) and
 * overwrites the superseded keystore file with zeros (src/providers/local-keystore.ts). close() waits for
 * the keystore writes under way; every call after it is refused (server_error) and writes nothing.
 */
export const LOCAL_SCHEME = 'local';
export const LOCAL_WRAP_ALGORITHM = 'RSA-OAEP-256';

export interface LocalKeyRef {
  name: string;
  version?: number;
}

export interface LocalProviderOptions {
  keystorePath: string;
  /** Passed to the keystore: skip its group/world permission check (tests only). */
  allowInsecurePermissions?: boolean;
}

const URI_PATTERN = /^local:([^/]+)(?:\/([1-9][0-9]{0,8}))?$/;

/** Parses `local:<name>` or `local:<name>/<version>`; undefined when it is neither. */
export function parseLocalKeyUri(uri: string): LocalKeyRef | undefined {
  const match = URI_PATTERN.exec(uri);
  const name = match?.[1];
  if (!match || name === undefined || !KEY_NAME_PATTERN.test(name)) return undefined;
  return match[2] === undefined ? { name } : { name, version: Number(match[2]) };
}

export function formatLocalKeyUri(name: string, version?: number): string {
  return version === undefined ? `${LOCAL_SCHEME}:${name}` : `${LOCAL_SCHEME}:${name}/${version}`;
}

export function createLocalProvider(opts: LocalProviderOptions): RootKeyProvider {
  const keystore = openLocalKeystore(opts.keystorePath, {
    allowInsecurePermissions: opts.allowInsecurePermissions === true,
  });
  let closed = false;
  /** Keystore writes under way: close() lets them finish, so nothing is written after it resolved. */
  const writing = new Set<Promise<unknown>>();

  async function lookup(ref: LocalKeyRef, keyUri: string): Promise<KeyVersionEntry> {
    try {
      return await keystore.get(ref.name, ref.version);
    } catch (err) {
      if (isUnwrapdError(err, 'not_found'))
        throw providerError('key_not_found', keyUri, `${keyUri}: key not found: ${err.message}`);
      const why = err instanceof Error ? err.message : 'unknown error';
      throw providerError('server_error', keyUri, `${keyUri}: local keystore unavailable: ${why}`, err);
    }
  }

  /** A keystore write, its failures classified (a missing key is key_not_found; anything else server_error). */
  async function keystoreCall<T>(keyUri: string, fn: () => Promise<T>): Promise<T> {
    if (closed) throw providerError('server_error', keyUri, `${keyUri}: the local provider is closed`);
    const write = fn();
    writing.add(write);
    try {
      return await write;
    } catch (err) {
      if (isUnwrapdError(err, 'not_found')) throw providerError('key_not_found', keyUri, `${keyUri}: ${err.message}`);
      const why = err instanceof Error ? err.message : 'unknown error';
      throw providerError('server_error', keyUri, `${keyUri}: local keystore write failed: ${why}`, err);
    } finally {
      writing.delete(write);
    }
  }

  /** The usable (enabled) key version named by `keyUri`, or the classified reason it is not usable. */
  async function usableKey(keyUri: string, signal: AbortSignal): Promise<{ uri: string; privateKey: KeyObject }> {
    throwIfAborted(signal, keyUri);
    if (closed) throw providerError('server_error', keyUri, `${keyUri}: the local provider is closed`);
    const ref = parseLocalKeyUri(keyUri);
    if (!ref)
      throw providerError(
        'key_not_found',
        keyUri,
        `${keyUri}: not a local key URI (expected local:<name> or local:<name>/<version>)`,
      );
    const entry = await raceAbort(lookup(ref, keyUri), signal, () => abortedError(keyUri));
    throwIfAborted(signal, keyUri);
    const uri = formatLocalKeyUri(entry.name, entry.version);
    if (entry.state === 'deleted') throw providerError('key_deleted', keyUri, `${uri}: key is deleted`);
    if (entry.state === 'disabled' || !entry.privateKey)
      throw providerError('key_disabled', keyUri, `${uri}: key is disabled`);
    return { uri, privateKey: entry.privateKey };
  }

  return {
    schemes: [LOCAL_SCHEME],

    async resolve(keyUri: string, { signal }: CallOptions): Promise<ResolvedKey> {
      const { uri } = await usableKey(keyUri, signal);
      return { uri, algorithm: LOCAL_WRAP_ALGORITHM };
    },

    async wrap(keyUri: string, key: SecretKey, { signal }: CallOptions): Promise<WrappedKey> {
      const { uri, privateKey } = await usableKey(keyUri, signal);
      let ciphertext: Buffer;
      try {
        ciphertext = publicEncrypt(oaep(privateKey), key.expose());
      } catch (err) {
        throw providerError(
          'unknown',
          keyUri,
          `${uri}: wrap failed (a ${key.length}-byte key; destroyed or too long for RSA-OAEP?)`,
          err,
        );
      }
      throwIfAborted(signal, keyUri);
      return { keyUri: uri, algorithm: LOCAL_WRAP_ALGORITHM, ciphertext };
    },

    async unwrap(wrapped: WrappedKey, { signal }: CallOptions): Promise<SecretKey> {
      const keyUri = wrapped.keyUri;
      const { uri, privateKey } = await usableKey(keyUri, signal);
      if (wrapped.algorithm !== LOCAL_WRAP_ALGORITHM) {
        throw providerError(
          'unwrap_rejected',
          keyUri,
          `${uri}: unsupported wrap algorithm ${JSON.stringify(wrapped.algorithm.slice(0, 40))} (expected ${LOCAL_WRAP_ALGORITHM})`,
        );
      }
      // The raw RSA output, OAEP-decoded here (src/crypto/rsa-oaep.ts): privateDecrypt's own OAEP leaves a copy
      // of the key in freed memory. `em` is modulus-sized, masked, and zeroized either way.
      let em: Buffer | undefined;
      let key: SecretKey;
      try {
        em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, wrapped.ciphertext);
        key = decodeOaepSha256(em);
      } catch (err) {
        throw providerError(
          'unwrap_rejected',
          keyUri,
          `${uri}: the key rejected the wrapped copy (another key or version, or corrupted)`,
          err,
        );
      } finally {
        em?.fill(0);
      }
      if (signal.aborted) {
        key.destroy();
        throw abortedError(keyUri);
      }
      return key;
    },

    /** Never throws for the key's state (that is the answer); throws only when the call is aborted. */
    async status(keyUri: string, { signal }: CallOptions): Promise<KeyStatus> {
      try {
        await usableKey(keyUri, signal);
        return { uri: keyUri, usable: true };
      } catch (err) {
        if (!isProviderError(err) || err.reason === 'aborted') throw err;
        return { uri: keyUri, usable: false, kind: err.kind, reason: err.reason };
      }
    },

    async createKey(baseUri: string, nameHint: string, { signal }: CallOptions): Promise<ResolvedKey> {
      if (!isKeyBase(baseUri) || !baseUri.startsWith(LOCAL_SCHEME))
        throw providerError('key_not_found', baseUri, `${baseUri}: not a local key base (expected local:)`);
      throwIfAborted(signal, baseUri);
      const name = keyNameFromHint(nameHint, randomBytes(6).toString('hex'), { allowed: /[A-Za-z0-9._-]/, max: 64 });
      const info = await keystoreCall(baseUri, () => keystore.createKey(name));
      return { uri: formatLocalKeyUri(name, info.latestVersion), algorithm: LOCAL_WRAP_ALGORITHM };
    },

    async destroyKey(keyUri: string, { signal }: CallOptions): Promise<DestructionConfirmation> {
      const ref = parseLocalKeyUri(keyUri);
      if (!ref) throw providerError('key_not_found', keyUri, `${keyUri}: not a local key URI`);
      throwIfAborted(signal, keyUri);
      const { alreadyDeleted, scrubbedBytes } = await keystoreCall(keyUri, () => keystore.destroyKey(ref.name));
      const action = alreadyDeleted
        ? `already deleted from keystore ${opts.keystorePath}: no version's private key is in the file`
        : `deleted from keystore ${opts.keystorePath}: every version's private key removed; the superseded file (${scrubbedBytes} bytes) overwritten with zeros and fsynced`;
      return {
        provider: LOCAL_SCHEME,
        keyUri: formatLocalKeyUri(ref.name),
        action,
        destroyedAt: new Date().toISOString(),
        alreadyDestroyed: alreadyDeleted,
      };
    },

    async close(): Promise<void> {
      closed = true;
      await Promise.allSettled([...writing]);
      keystore.close();
    },
  };
}

function oaep(key: KeyObject): { key: KeyObject; padding: number; oaepHash: string } {
  return { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
}

function abortedError(keyUri: string): ProviderError {
  return providerError('aborted', keyUri, `${keyUri}: aborted by the caller (deadline or cancellation)`);
}

function throwIfAborted(signal: AbortSignal, keyUri: string): void {
  if (signal.aborted) throw abortedError(keyUri);
}
