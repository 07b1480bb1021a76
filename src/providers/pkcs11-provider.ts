import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Pkcs11Library } from './pkcs11-api.js';
import { SecretKey } from '../crypto/secret-key.js';
import { isProviderError, providerError } from './provider-error.js';
import { abortedError, ckr, classifyPkcs11Error, isGenericFailure, isSessionLost } from './pkcs11-errors.js';
import {
  algorithmFor,
  decrypt,
  decryptsProbe,
  encrypt,
  findKey,
  PKCS11_ALGORITHMS,
  type Handle,
  type KeyInfo,
  type OaepAlgorithm,
  type Pkcs11Module,
} from './pkcs11-token.js';
import { destroyKeyObjects, generateKeyPair } from './pkcs11-key-admin.js';
import { formatPkcs11Uri, parsePkcs11Uri, PKCS11_SCHEME, type Pkcs11KeyRef } from './pkcs11-uri.js';
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
 * A root-key provider over a PKCS#11 token (an HSM; tested against SoftHSM 2), meant for the operator-held
 * availability key. Scheme `pkcs11:` (src/providers/pkcs11-uri.ts).
 *
 * Unwrap is RSA-OAEP done by the token with the private key (C_DecryptInit/C_Decrypt, CKM_RSA_PKCS_OAEP);
 * the private key never leaves it. Wrap is the public-key operation, done here with the key's public
 * modulus and exponent read from the token (any RSA-OAEP implementation gives the same result).
 *
 * Mechanism choice: the hash is the one the token accepts for unwrapping, found once per key by a test
 * round trip: SHA-256 with MGF1-SHA-256 (`RSA-OAEP-256`) when the token takes it, else SHA-1 with
 * MGF1-SHA-1 (`RSA-OAEP`). SoftHSM 2.6 supports only SHA-1 for OAEP, so on SoftHSM copies are `RSA-OAEP`.
 * The algorithm is recorded in each wrapped copy, and unwrap uses the one recorded, so a copy made under
 * SHA-1 keeps working if the token later gains SHA-256 (and the reverse fails as `unwrap_rejected`).
 * RSA-OAEP with SHA-1 remains sound for key wrapping (OAEP's security does not rest on SHA-1's collision
 * resistance); docs/providers.md says more.
 *
 * Availability keys of their own (createKey, base `pkcs11:token=<label>`): an RSA-3072 key pair generated on
 * the token, labelled after the policy with a random suffix and a random 16-byte CKA_ID; destroyKey destroys
 * every object with the key's label and id (src/providers/pkcs11-key-admin.ts).
 *
 * Sessions: the module is loaded and initialized on first use, one read-write session per token, logged in
 * as the user with the configured PIN; calls on a session are serialized. A session-level failure (token removed,
 * session closed) drops the session and the next call opens a new one.
 */
export interface Pkcs11ProviderOptions {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  modulePath: string;
  /** Token used when a URI names none. */
  defaultToken?: string;
  /** The user PIN. */
  pin: string;
  /** Loads the pkcs11js addon (default `loadPkcs11Addon`); tests inject a loader to simulate it missing. */
  loadAddon?: () => Pkcs11Module;
}

/**
 * The pkcs11js native addon, an optional dependency: npm builds it only where a C++ toolchain is present, and
 * unwrapd runs without it until a PKCS#11 module is configured. Loaded when a PKCS#11 provider is created.
 */
export function loadPkcs11Addon(): Pkcs11Module {
  return createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
}

/** The one error for a PKCS#11 module configured where the addon is not installed: what to do about it. */
export const PKCS11_ADDON_MISSING =
  'pkcs11Module is set, but the PKCS#11 provider needs the optional native addon pkcs11js, which is not ' +
  'installed: install a C++ toolchain (make, g++, python3) and re-run npm ci';

interface Session {
  handle: Handle;
  /** Serializes operations on the session. */
  queue: Promise<unknown>;
}

export { PKCS11_ALGORITHMS } from './pkcs11-token.js';
export { classifyPkcs11Error } from './pkcs11-errors.js';

export function createPkcs11Provider(opts: Pkcs11ProviderOptions): RootKeyProvider {
  let addon: Pkcs11Module;
  try {
    addon = (opts.loadAddon ?? loadPkcs11Addon)();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED')
      throw new Error(PKCS11_ADDON_MISSING);
    throw err;
  }
  let pk: Pkcs11Module | undefined;
  let lib: Pkcs11Library | undefined;
  const sessions = new Map<string, Session>();
  /** Algorithm the token accepts, per pinned key URI. */
  const algorithms = new Map<string, OaepAlgorithm>();
  let closed = false;

  function module(): { pk: Pkcs11Module; lib: Pkcs11Library } {
    if (!pk || !lib) {
      const loaded = addon;
      const instance = new loaded.PKCS11();
      instance.load(opts.modulePath);
      try {
        instance.C_Initialize();
      } catch (err) {
        if (ckr(err) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw err;
      }
      pk = loaded;
      lib = instance;
    }
    return { pk, lib };
  }

  function session(token: string): Session {
    const existing = sessions.get(token);
    if (existing) return existing;
    const { pk, lib } = module();
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token);
    if (!slot)
      throw Object.assign(new Error(`no token labelled ${JSON.stringify(token)}`), { ckr: 'CKR_TOKEN_NOT_PRESENT' });
    // Read-write, so that availability keys can be created and destroyed; a write-protected token gets a
    // read-only session (createKey/destroyKey then fail with the token's answer).
    let handle: Handle;
    try {
      handle = lib.C_OpenSession(slot, pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
    } catch (err) {
      if (ckr(err) !== 'CKR_TOKEN_WRITE_PROTECTED') throw err;
      handle = lib.C_OpenSession(slot, pk.CKF_SERIAL_SESSION);
    }
    try {
      lib.C_Login(handle, pk.CKU_USER, opts.pin);
    } catch (err) {
      if (ckr(err) !== 'CKR_USER_ALREADY_LOGGED_IN') {
        try {
          lib.C_CloseSession(handle);
        } catch {
          /* already failing */
        }
        throw err;
      }
    }
    const s: Session = { handle, queue: Promise.resolve() };
    sessions.set(token, s);
    return s;
  }

  /** Runs `work` alone on the token's session; classifies failures; settles when `signal` aborts. */
  async function onToken<T>(
    keyUri: string,
    token: string,
    signal: AbortSignal,
    work: (s: Handle, m: { pk: Pkcs11Module; lib: Pkcs11Library }) => Promise<T> | T,
    onLate?: (value: T) => void,
  ): Promise<T> {
    if (closed) throw providerError('server_error', keyUri, `${keyUri}: the PKCS#11 provider is closed`);
    if (signal.aborted) throw abortedError(keyUri, signal);
    let s: Session;
    try {
      s = session(token);
    } catch (err) {
      throw classifyPkcs11Error(err, keyUri);
    }
    const run = s.queue.then(async () => {
      if (signal.aborted) throw abortedError(keyUri, signal);
      return work(s.handle, module());
    });
    s.queue = run.catch(() => undefined);
    try {
      return await raceAbort(run, signal, () => abortedError(keyUri, signal), onLate);
    } catch (err) {
      if (isProviderError(err)) throw err;
      const classified = classifyPkcs11Error(err, keyUri);
      if (isSessionLost(err)) sessions.delete(token);
      throw classified;
    }
  }

  function refOf(keyUri: string): Pkcs11KeyRef & { token: string } {
    const ref = parsePkcs11Uri(keyUri);
    if (!ref)
      throw providerError(
        'key_not_found',
        keyUri,
        `${keyUri}: not a PKCS#11 key URI (expected pkcs11:token=<label>;object=<label>[;id=%..])`,
      );
    const token = ref.token ?? opts.defaultToken;
    if (!token)
      throw providerError('key_not_found', keyUri, `${keyUri}: names no token and no default token is configured`);
    return { ...ref, token };
  }

  async function usable(keyUri: string, signal: AbortSignal): Promise<{ key: KeyInfo; algorithm: OaepAlgorithm }> {
    const ref = refOf(keyUri);
    return onToken(keyUri, ref.token, signal, async (s, m) => {
      const key = findKey(keyUri, ref, s, m);
      if (!key.decrypt)
        throw providerError('key_disabled', keyUri, `${keyUri}: the key may not decrypt (CKA_DECRYPT is false)`);
      return { key, algorithm: await algorithmFor(s, m, key, algorithms) };
    });
  }

  return {
    schemes: [PKCS11_SCHEME],

    async resolve(keyUri: string, { signal }: CallOptions): Promise<ResolvedKey> {
      const { key, algorithm } = await usable(keyUri, signal);
      return { uri: formatPkcs11Uri(key.ref), algorithm };
    },

    async wrap(keyUri: string, secret: SecretKey, { signal }: CallOptions): Promise<WrappedKey> {
      const { key, algorithm } = await usable(keyUri, signal);
      let ciphertext: Buffer;
      try {
        ciphertext = encrypt(key, algorithm, secret.expose());
      } catch (err) {
        throw providerError(
          'unknown',
          keyUri,
          `${keyUri}: wrap failed (a ${secret.length}-byte key; destroyed or too long for RSA-OAEP?)`,
          err,
        );
      }
      return { keyUri: formatPkcs11Uri(key.ref), algorithm, ciphertext };
    },

    async unwrap(wrapped: WrappedKey, { signal }: CallOptions): Promise<SecretKey> {
      const keyUri = wrapped.keyUri;
      const algorithm = wrapped.algorithm as OaepAlgorithm;
      if (!PKCS11_ALGORITHMS.includes(algorithm)) {
        throw providerError(
          'unwrap_rejected',
          keyUri,
          `${keyUri}: unsupported wrap algorithm ${JSON.stringify(wrapped.algorithm.slice(0, 40))} (expected ${PKCS11_ALGORITHMS.join(' or ')})`,
        );
      }
      const ref = refOf(keyUri);
      const { out, plain } = await onToken(
        keyUri,
        ref.token,
        signal,
        async (s, m) => {
          const key = findKey(keyUri, ref, s, m);
          if (!key.decrypt)
            throw providerError('key_disabled', keyUri, `${keyUri}: the key may not decrypt (CKA_DECRYPT is false)`);
          try {
            return await decrypt(s, m, key, algorithm, Buffer.from(wrapped.ciphertext));
          } catch (err) {
            // Some tokens (SoftHSM among them) report an OAEP decoding failure as a generic error. If the
            // key still decrypts a fresh test value, the token is fine and the copy is what it refused.
            if (isGenericFailure(err) && (await decryptsProbe(s, m, key, algorithm))) {
              throw providerError(
                'unwrap_rejected',
                keyUri,
                `${keyUri}: the key rejected the wrapped copy (another key, or corrupted)`,
                err,
              );
            }
            throw err;
          }
        },
        (late) => late.out.fill(0),
      );
      try {
        return SecretKey.copyFrom(plain);
      } finally {
        out.fill(0);
      }
    },

    async status(keyUri: string, { signal }: CallOptions): Promise<KeyStatus> {
      try {
        await usable(keyUri, signal);
        return { uri: keyUri, usable: true };
      } catch (err) {
        if (!isProviderError(err) || err.reason === 'aborted' || signal.aborted) throw err;
        return { uri: keyUri, usable: false, kind: err.kind, reason: err.reason };
      }
    },

    async createKey(baseUri: string, nameHint: string, { signal }: CallOptions): Promise<ResolvedKey> {
      if (!isKeyBase(baseUri) || !baseUri.startsWith(`${PKCS11_SCHEME}:`))
        throw providerError(
          'key_not_found',
          baseUri,
          `${baseUri}: not a PKCS#11 key base (expected pkcs11:token=<label>)`,
        );
      const base = refOf(`${baseUri}${baseUri.endsWith(':') ? '' : ';'}object=x`); // the token it names, or the default
      const ref: Pkcs11KeyRef & { token: string; id: Buffer } = {
        token: base.token,
        object: keyNameFromHint(nameHint, randomBytes(6).toString('hex'), { allowed: /[A-Za-z0-9._-]/, max: 64 }),
        id: randomBytes(16),
      };
      const keyUri = formatPkcs11Uri(ref);
      await onToken(keyUri, ref.token, signal, (s, m) => generateKeyPair(s, m, ref));
      const { key, algorithm } = await usable(keyUri, signal);
      return { uri: formatPkcs11Uri(key.ref), algorithm };
    },

    async destroyKey(keyUri: string, { signal }: CallOptions): Promise<DestructionConfirmation> {
      const ref = refOf(keyUri);
      const pinned = formatPkcs11Uri(ref);
      const destroyed = await onToken(keyUri, ref.token, signal, (s, m) => destroyKeyObjects(keyUri, ref, s, m));
      algorithms.delete(pinned);
      const action =
        destroyed === 0
          ? `not on token ${JSON.stringify(ref.token)}: already destroyed (no object with its label${ref.id ? ' and id' : ''})`
          : `C_DestroyObject on ${destroyed} object(s) (private and public key) on token ${JSON.stringify(ref.token)}; none is left`;
      return {
        provider: PKCS11_SCHEME,
        keyUri: pinned,
        action,
        destroyedAt: new Date().toISOString(),
        alreadyDestroyed: destroyed === 0,
      };
    },

    async close(): Promise<void> {
      closed = true;
      if (!lib) return;
      for (const s of sessions.values()) {
        try {
          await s.queue;
          lib.C_CloseSession(s.handle);
        } catch {
          /* closing anyway */
        }
      }
      sessions.clear();
      try {
        lib.C_Finalize();
      } catch {
        /* another user of the module in this process may have finalized it */
      }
    },
  };
}
