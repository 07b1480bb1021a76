import { constants, createPublicKey, publicEncrypt, timingSafeEqual, randomBytes, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { SecretKey } from '../crypto/secret-key.js';
import { isProviderError, providerError, type ProviderError, type ProviderErrorReason } from './provider-error.js';
import { formatPkcs11Uri, parsePkcs11Uri, PKCS11_SCHEME, type Pkcs11KeyRef } from './pkcs11-uri.js';
import { isKeyBase, keyNameFromHint } from './key-base.js';
import type { CallOptions, DestructionConfirmation, KeyStatus, ResolvedKey, RootKeyProvider, WrappedKey } from './root-key-provider.js';
import { raceAbort } from './race-abort.js';

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
 * the token (C_GenerateKeyPair), the private key sensitive and not extractable, labelled after the policy
 * with a random suffix and a random 16-byte CKA_ID. destroyKey destroys (C_DestroyObject) every object with
 * the key's label and id, private and public, then checks that none is left.
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
}

type Pkcs11Module = typeof Pkcs11Types;
type Handle = Buffer;

interface Session {
  handle: Handle;
  /** Serializes operations on the session. */
  queue: Promise<unknown>;
}

interface KeyInfo {
  ref: Pkcs11KeyRef & { token: string };
  handle: Handle;
  decrypt: boolean;
  publicKey: KeyObject;
  modulusBytes: number;
}

export const PKCS11_ALGORITHMS = ['RSA-OAEP-256', 'RSA-OAEP'] as const;
type OaepAlgorithm = (typeof PKCS11_ALGORITHMS)[number];

export function createPkcs11Provider(opts: Pkcs11ProviderOptions): RootKeyProvider {
  let pk: Pkcs11Module | undefined;
  let lib: Pkcs11Types.PKCS11 | undefined;
  const sessions = new Map<string, Session>();
  /** Algorithm the token accepts, per pinned key URI. */
  const algorithms = new Map<string, OaepAlgorithm>();
  let closed = false;

  function module(): { pk: Pkcs11Module; lib: Pkcs11Types.PKCS11 } {
    if (!pk || !lib) {
      const require = createRequire(import.meta.url);
      const loaded = require('pkcs11js') as Pkcs11Module;
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
    if (!slot) throw Object.assign(new Error(`no token labelled ${JSON.stringify(token)}`), { ckr: 'CKR_TOKEN_NOT_PRESENT' });
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
  async function onToken<T>(keyUri: string, token: string, signal: AbortSignal, work: (s: Handle, m: { pk: Pkcs11Module; lib: Pkcs11Types.PKCS11 }) => Promise<T> | T, onLate?: (value: T) => void): Promise<T> {
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
      if (SESSION_LOST.has(ckr(err) ?? '')) sessions.delete(token);
      throw classified;
    }
  }

  function refOf(keyUri: string): Pkcs11KeyRef & { token: string } {
    const ref = parsePkcs11Uri(keyUri);
    if (!ref) throw providerError('key_not_found', keyUri, `${keyUri}: not a PKCS#11 key URI (expected pkcs11:token=<label>;object=<label>[;id=%..])`);
    const token = ref.token ?? opts.defaultToken;
    if (!token) throw providerError('key_not_found', keyUri, `${keyUri}: names no token and no default token is configured`);
    return { ...ref, token };
  }

  /** Finds the one private RSA key the URI names (synchronous: call inside onToken). */
  function findKey(keyUri: string, ref: Pkcs11KeyRef & { token: string }, s: Handle, m: { pk: Pkcs11Module; lib: Pkcs11Types.PKCS11 }): KeyInfo {
    const { pk, lib } = m;
    const template: Pkcs11Types.Template = [
      { type: pk.CKA_CLASS, value: pk.CKO_PRIVATE_KEY },
      { type: pk.CKA_KEY_TYPE, value: pk.CKK_RSA },
      { type: pk.CKA_LABEL, value: ref.object },
    ];
    if (ref.id) template.push({ type: pk.CKA_ID, value: ref.id });
    lib.C_FindObjectsInit(s, template);
    let found: Handle[];
    try {
      found = lib.C_FindObjects(s, 2);
    } finally {
      lib.C_FindObjectsFinal(s);
    }
    if (found.length === 0) throw providerError('key_not_found', keyUri, `${keyUri}: no private RSA key with that label${ref.id ? ' and id' : ''} on token ${JSON.stringify(ref.token)}`);
    if (found.length > 1) throw providerError('key_not_found', keyUri, `${keyUri}: several keys have that label; name one with id=`);
    const handle = found[0]!;
    const attrs = lib.C_GetAttributeValue(s, handle, [{ type: pk.CKA_ID }, { type: pk.CKA_DECRYPT }, { type: pk.CKA_MODULUS }, { type: pk.CKA_PUBLIC_EXPONENT }]);
    const [id, decrypt, modulus, exponent] = attrs.map((a) => a.value);
    if (!Buffer.isBuffer(modulus) || !Buffer.isBuffer(exponent)) throw providerError('unknown', keyUri, `${keyUri}: the key does not expose its public modulus and exponent`);
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') }, format: 'jwk' });
    const pinned: Pkcs11KeyRef & { token: string } = { token: ref.token, object: ref.object };
    if (Buffer.isBuffer(id) && id.length > 0) pinned.id = Buffer.from(id);
    return { ref: pinned, handle, decrypt: isTrue(decrypt), publicKey, modulusBytes: modulus.length };
  }

  function mechanism(pk: Pkcs11Module, algorithm: OaepAlgorithm): Pkcs11Types.Mechanism {
    const sha256 = algorithm === 'RSA-OAEP-256';
    return {
      mechanism: pk.CKM_RSA_PKCS_OAEP,
      parameter: { type: pk.CK_PARAMS_RSA_OAEP, hashAlg: sha256 ? pk.CKM_SHA256 : pk.CKM_SHA_1, mgf: sha256 ? pk.CKG_MGF1_SHA256 : pk.CKG_MGF1_SHA1, source: 1 /* CKZ_DATA_SPECIFIED */ } as Pkcs11Types.RsaOAEP,
    };
  }

  function encrypt(key: KeyInfo, algorithm: OaepAlgorithm, plain: Uint8Array): Buffer {
    return publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: algorithm === 'RSA-OAEP-256' ? 'sha256' : 'sha1' }, plain);
  }

  async function decrypt(s: Handle, m: { pk: Pkcs11Module; lib: Pkcs11Types.PKCS11 }, key: KeyInfo, algorithm: OaepAlgorithm, ciphertext: Buffer): Promise<{ out: Buffer; plain: Buffer }> {
    m.lib.C_DecryptInit(s, mechanism(m.pk, algorithm), key.handle);
    const out = Buffer.alloc(key.modulusBytes);
    const plain = await m.lib.C_DecryptAsync(s, ciphertext, out);
    return { out, plain };
  }

  /** The algorithm the token unwraps with for this key: SHA-256 when it accepts it, else SHA-1 (a test round trip, once). */
  async function algorithmFor(s: Handle, m: { pk: Pkcs11Module; lib: Pkcs11Types.PKCS11 }, key: KeyInfo): Promise<OaepAlgorithm> {
    const uri = formatPkcs11Uri(key.ref);
    const known = algorithms.get(uri);
    if (known) return known;
    const probe = randomBytes(32);
    for (const algorithm of PKCS11_ALGORITHMS) {
      try {
        const { out, plain } = await decrypt(s, m, key, algorithm, encrypt(key, algorithm, probe));
        const ok = plain.length === probe.length && timingSafeEqual(plain, probe);
        out.fill(0);
        if (ok) {
          algorithms.set(uri, algorithm);
          return algorithm;
        }
      } catch (err) {
        const code = ckr(err);
        if (code !== 'CKR_MECHANISM_PARAM_INVALID' && code !== 'CKR_MECHANISM_INVALID' && code !== 'CKR_ARGUMENTS_BAD') throw err;
      }
    }
    throw providerError('unknown', uri, `${uri}: the token supports neither RSA-OAEP with SHA-256 nor with SHA-1`);
  }

  async function decryptsProbe(s: Handle, m: { pk: Pkcs11Module; lib: Pkcs11Types.PKCS11 }, key: KeyInfo, algorithm: OaepAlgorithm): Promise<boolean> {
    const probe = randomBytes(32);
    try {
      const { out, plain } = await decrypt(s, m, key, algorithm, encrypt(key, algorithm, probe));
      const ok = plain.length === probe.length && timingSafeEqual(plain, probe);
      out.fill(0);
      return ok;
    } catch {
      return false;
    }
  }

  async function usable(keyUri: string, signal: AbortSignal): Promise<{ key: KeyInfo; algorithm: OaepAlgorithm }> {
    const ref = refOf(keyUri);
    return onToken(keyUri, ref.token, signal, async (s, m) => {
      const key = findKey(keyUri, ref, s, m);
      if (!key.decrypt) throw providerError('key_disabled', keyUri, `${keyUri}: the key may not decrypt (CKA_DECRYPT is false)`);
      return { key, algorithm: await algorithmFor(s, m, key) };
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
        throw providerError('unknown', keyUri, `${keyUri}: wrap failed (a ${secret.length}-byte key; destroyed or too long for RSA-OAEP?)`, err);
      }
      return { keyUri: formatPkcs11Uri(key.ref), algorithm, ciphertext };
    },

    async unwrap(wrapped: WrappedKey, { signal }: CallOptions): Promise<SecretKey> {
      const keyUri = wrapped.keyUri;
      const algorithm = wrapped.algorithm as OaepAlgorithm;
      if (!PKCS11_ALGORITHMS.includes(algorithm)) {
        throw providerError('unwrap_rejected', keyUri, `${keyUri}: unsupported wrap algorithm ${JSON.stringify(wrapped.algorithm.slice(0, 40))} (expected ${PKCS11_ALGORITHMS.join(' or ')})`);
      }
      const ref = refOf(keyUri);
      const { out, plain } = await onToken(
        keyUri,
        ref.token,
        signal,
        async (s, m) => {
          const key = findKey(keyUri, ref, s, m);
          if (!key.decrypt) throw providerError('key_disabled', keyUri, `${keyUri}: the key may not decrypt (CKA_DECRYPT is false)`);
          try {
            return await decrypt(s, m, key, algorithm, Buffer.from(wrapped.ciphertext));
          } catch (err) {
            // Some tokens (SoftHSM among them) report an OAEP decoding failure as a generic error. If the
            // key still decrypts a fresh test value, the token is fine and the copy is what it refused.
            if (GENERIC_FAILURE.has(ckr(err) ?? '') && (await decryptsProbe(s, m, key, algorithm))) {
              throw providerError('unwrap_rejected', keyUri, `${keyUri}: the key rejected the wrapped copy (another key, or corrupted)`, err);
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
      if (!isKeyBase(baseUri) || !baseUri.startsWith(`${PKCS11_SCHEME}:`)) throw providerError('key_not_found', baseUri, `${baseUri}: not a PKCS#11 key base (expected pkcs11:token=<label>)`);
      const base = refOf(`${baseUri}${baseUri.endsWith(':') ? '' : ';'}object=x`); // the token it names, or the default
      const ref: Pkcs11KeyRef & { token: string } = {
        token: base.token,
        object: keyNameFromHint(nameHint, randomBytes(6).toString('hex'), { allowed: /[A-Za-z0-9._-]/, max: 64 }),
        id: randomBytes(16),
      };
      const keyUri = formatPkcs11Uri(ref);
      await onToken(keyUri, ref.token, signal, (s, { pk, lib }) => {
        const common = [
          { type: pk.CKA_TOKEN, value: true },
          { type: pk.CKA_LABEL, value: ref.object },
          { type: pk.CKA_ID, value: ref.id! },
        ];
        lib.C_GenerateKeyPair(
          s,
          { mechanism: pk.CKM_RSA_PKCS_KEY_PAIR_GEN },
          [...common, { type: pk.CKA_ENCRYPT, value: true }, { type: pk.CKA_WRAP, value: true }, { type: pk.CKA_MODULUS_BITS, value: 3072 }, { type: pk.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
          [...common, { type: pk.CKA_PRIVATE, value: true }, { type: pk.CKA_SENSITIVE, value: true }, { type: pk.CKA_EXTRACTABLE, value: false }, { type: pk.CKA_DECRYPT, value: true }, { type: pk.CKA_UNWRAP, value: true }],
        );
      });
      const { key, algorithm } = await usable(keyUri, signal);
      return { uri: formatPkcs11Uri(key.ref), algorithm };
    },

    async destroyKey(keyUri: string, { signal }: CallOptions): Promise<DestructionConfirmation> {
      const ref = refOf(keyUri);
      const pinned = formatPkcs11Uri(ref);
      const destroyed = await onToken(keyUri, ref.token, signal, (s, { pk, lib }) => {
        const find = (): Handle[] => {
          const template: Pkcs11Types.Template = [{ type: pk.CKA_LABEL, value: ref.object }];
          if (ref.id) template.push({ type: pk.CKA_ID, value: ref.id });
          lib.C_FindObjectsInit(s, template);
          try {
            return lib.C_FindObjects(s, 16);
          } finally {
            lib.C_FindObjectsFinal(s);
          }
        };
        const objects = find();
        for (const handle of objects) lib.C_DestroyObject(s, handle);
        if (find().length > 0) throw providerError('unknown', keyUri, `${keyUri}: objects with the key's label are still on the token after C_DestroyObject`);
        return objects.length;
      });
      algorithms.delete(pinned);
      const action = destroyed === 0 ? `not on token ${JSON.stringify(ref.token)}: already destroyed (no object with its label${ref.id ? ' and id' : ''})` : `C_DestroyObject on ${destroyed} object(s) (private and public key) on token ${JSON.stringify(ref.token)}; none is left`;
      return { provider: PKCS11_SCHEME, keyUri: pinned, action, destroyedAt: new Date().toISOString(), alreadyDestroyed: destroyed === 0 };
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

function isTrue(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (Buffer.isBuffer(value)) return value.length > 0 && value[0] !== 0;
  return false;
}

/** The CKR_ name of a PKCS#11 failure (pkcs11js puts it in the message). */
function ckr(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'ckr' in err && typeof err.ckr === 'string') return err.ckr;
  const message = err instanceof Error ? err.message : '';
  return /^(CKR_[A-Z0-9_]+)/.exec(message)?.[1];
}

const GENERIC_FAILURE = new Set(['CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED']);

const SESSION_LOST = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_ERROR', 'CKR_USER_NOT_LOGGED_IN', 'CKR_CRYPTOKI_NOT_INITIALIZED']);

const CKR_REASONS: Record<string, ProviderErrorReason> = {
  CKR_PIN_INCORRECT: 'access_denied',
  CKR_PIN_LOCKED: 'access_denied',
  CKR_PIN_EXPIRED: 'access_denied',
  CKR_PIN_INVALID: 'access_denied',
  CKR_PIN_LEN_RANGE: 'access_denied',
  CKR_USER_PIN_NOT_INITIALIZED: 'access_denied',
  CKR_USER_NOT_LOGGED_IN: 'access_denied',
  CKR_KEY_HANDLE_INVALID: 'key_not_found',
  CKR_OBJECT_HANDLE_INVALID: 'key_not_found',
  CKR_KEY_FUNCTION_NOT_PERMITTED: 'key_disabled',
  CKR_KEY_TYPE_INCONSISTENT: 'unwrap_rejected',
  CKR_MECHANISM_INVALID: 'unwrap_rejected',
  CKR_MECHANISM_PARAM_INVALID: 'unwrap_rejected',
  CKR_ARGUMENTS_BAD: 'unwrap_rejected', // SoftHSM's answer to OAEP parameters it does not support
  CKR_ENCRYPTED_DATA_INVALID: 'unwrap_rejected',
  CKR_ENCRYPTED_DATA_LEN_RANGE: 'unwrap_rejected',
  CKR_DEVICE_ERROR: 'server_error',
  CKR_DEVICE_MEMORY: 'server_error',
  CKR_GENERAL_ERROR: 'server_error',
  CKR_FUNCTION_FAILED: 'server_error',
  CKR_HOST_MEMORY: 'server_error',
  CKR_DEVICE_REMOVED: 'connection_error',
  CKR_TOKEN_NOT_PRESENT: 'connection_error',
  CKR_TOKEN_NOT_RECOGNIZED: 'connection_error',
  CKR_SESSION_HANDLE_INVALID: 'connection_error',
  CKR_SESSION_CLOSED: 'connection_error',
  CKR_SESSION_COUNT: 'server_error',
  CKR_CRYPTOKI_NOT_INITIALIZED: 'server_error',
};

/**
 * PKCS#11 return values to reasons: PIN problems -> access_denied; no such key -> key_not_found; the key may
 * not decrypt -> key_disabled; the ciphertext is not for this key, or its mechanism is not offered ->
 * unwrap_rejected; token absent or the
 * session lost -> connection_error; device errors -> server_error; a module that cannot be loaded ->
 * server_error; anything else -> unknown (revoked: fails closed).
 */
export function classifyPkcs11Error(err: unknown, keyUri: string): ProviderError {
  if (isProviderError(err)) return err;
  const code = ckr(err);
  const message = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err).slice(0, 200);
  if (code !== undefined) return providerError(CKR_REASONS[code] ?? 'unknown', keyUri, `${keyUri}: the token answered ${code}`, err);
  if (/dlopen|cannot open shared object|No such file/i.test(message)) return providerError('server_error', keyUri, `${keyUri}: the PKCS#11 module cannot be loaded (${message})`, err);
  return providerError('unknown', keyUri, `${keyUri}: PKCS#11 failure: ${message}`, err);
}

function abortedError(keyUri: string, signal: AbortSignal): ProviderError {
  const name = (signal.reason as { name?: unknown } | undefined)?.name;
  const timeout = name === 'TimeoutError' || name === 'DeadlineExceededError';
  return providerError(timeout ? 'timeout' : 'aborted', keyUri, `${keyUri}: ${timeout ? 'the call ran out of time (deadline)' : 'aborted by the caller'}`);
}

