import { randomBytes } from 'node:crypto';
import type { KeyClient } from '@azure/keyvault-keys';
import { AZURE_WRAP_ALGORITHM, formatAzureKeyId, VERSION_PATTERN, type AzureKeyRef } from './azure-key-id.js';
import { isKeyBase, keyNameFromHint } from './key-base.js';
import { isProviderError, providerError } from './provider-error.js';
import type { DestructionConfirmation, ResolvedKey } from './root-key-provider.js';

/**
 * Availability keys of the Azure Key Vault provider's own: creating one (permission keys/create) and destroying
 * it for good (keys/delete, keys/purge, keys/get). A vault with purge protection refuses the purge until its
 * retention period ends: the purge then fails, and the policy stays revoked (docs/providers.md).
 */

/** What the provider lends these operations: its key id check, its cached KeyClients and its bounded calls. */
export interface AzureCalls {
  parse(keyUri: string, needVersion: boolean): AzureKeyRef;
  keyClient(ref: AzureKeyRef): Promise<KeyClient>;
  call<T>(keyUri: string, signal: AbortSignal, op: (abortSignal: AbortSignal) => Promise<T>): Promise<T>;
}

/**
 * Creates an RSA-3072 key (RSA-HSM on a managed HSM) permitting only wrapKey and unwrapKey, named after `nameHint`
 * with a random suffix, under `baseUri` (`https://<vault>/keys/`).
 */
export async function createAzureKey(
  c: AzureCalls,
  baseUri: string,
  nameHint: string,
  signal: AbortSignal,
): Promise<ResolvedKey> {
  if (!isKeyBase(baseUri) || !baseUri.startsWith('https://'))
    throw providerError(
      'key_not_found',
      baseUri,
      `${baseUri}: not a Key Vault key base (expected https://<vault>/keys/)`,
    );
  const name = keyNameFromHint(nameHint, randomBytes(6).toString('hex'), { allowed: /[0-9A-Za-z-]/, max: 127 });
  const ref = c.parse(`${new URL(baseUri).origin}/keys/${name}`, false);
  const client = await c.call(ref.vaultUrl, signal, () => c.keyClient(ref));
  const hsm = /\.managedhsm\./.test(ref.vaultUrl);
  const key = await c.call(formatAzureKeyId(ref), signal, (abortSignal) =>
    client.createRsaKey(name, { keySize: 3072, keyOps: ['wrapKey', 'unwrapKey'], hsm, abortSignal }),
  );
  const version = key.properties.version;
  if (!version || !VERSION_PATTERN.test(version))
    throw providerError(
      'unknown',
      formatAzureKeyId(ref),
      `${formatAzureKeyId(ref)}: the vault returned no usable key version`,
    );
  return { uri: formatAzureKeyId({ ...ref, version }), algorithm: AZURE_WRAP_ALGORITHM };
}

/** Deletes the key (every version), waits until the vault lists it as deleted, purges it and checks it is gone. */
export async function destroyAzureKey(
  c: AzureCalls,
  keyUri: string,
  signal: AbortSignal,
): Promise<DestructionConfirmation> {
  const { version: _version, ...ref } = c.parse(keyUri, false);
  const id = formatAzureKeyId(ref);
  const client = await c.call(id, signal, () => c.keyClient(ref));
  const exists = await found(() => c.call(id, signal, (abortSignal) => client.getKey(ref.name, { abortSignal })));
  const deleted = exists
    ? false
    : await found(() => c.call(id, signal, (abortSignal) => client.getDeletedKey(ref.name, { abortSignal })));
  if (!exists && !deleted) {
    return {
      provider: 'azure-key-vault',
      keyUri: id,
      action: 'already destroyed: the vault has it neither as a key nor as a deleted key',
      destroyedAt: new Date().toISOString(),
      alreadyDestroyed: true,
    };
  }
  if (exists) {
    const poller = await c.call(id, signal, (abortSignal) =>
      client.beginDeleteKey(ref.name, { abortSignal, intervalInMs: 250 }),
    );
    await c.call(id, signal, (abortSignal) => poller.pollUntilDone({ abortSignal }));
  }
  await purgeWhenDeleted(c, client, ref.name, id, signal);
  return {
    provider: 'azure-key-vault',
    keyUri: id,
    action: `${exists ? 'deleted and ' : ''}purged from the vault (every version); GET and GET deleted answer 404`,
    destroyedAt: new Date().toISOString(),
    alreadyDestroyed: false,
  };
}

/** Purges a soft-deleted key (a vault may answer 409 while the deletion is still in progress), then checks it is gone. */
async function purgeWhenDeleted(
  c: AzureCalls,
  client: KeyClient,
  name: string,
  id: string,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.call(id, signal, (abortSignal) => client.purgeDeletedKey(name, { abortSignal }));
      break;
    } catch (err) {
      const status = (err as { cause?: { statusCode?: number } }).cause?.statusCode;
      if (status === 409 && attempt < 20 && !signal.aborted) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (isProviderError(err) && err.reason === 'access_denied') {
        throw providerError(
          'access_denied',
          id,
          `${id}: the vault refused to purge the deleted key (purge protection on, or no keys/purge permission): it stays recoverable, so the purge cannot complete`,
          err,
        );
      }
      throw err;
    }
  }
  for (let attempt = 0; ; attempt++) {
    const still = await found(() => c.call(id, signal, (abortSignal) => client.getDeletedKey(name, { abortSignal })));
    if (!still) return;
    if (attempt >= 20 || signal.aborted)
      throw providerError('server_error', id, `${id}: the vault still lists the key as deleted after the purge`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Whether `get` finds it: false on key_not_found (404), true on success; other failures are thrown. */
async function found(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return true;
  } catch (err) {
    if (isProviderError(err) && err.reason === 'key_not_found') return false;
    throw err;
  }
}
