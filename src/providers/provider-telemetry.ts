import type { ProviderOutcome, Telemetry } from '../telemetry/telemetry.js';
import { isProviderError, type ProviderErrorReason } from './provider-error.js';
import type { KeyStatus, RootKeyProvider } from './root-key-provider.js';

/**
 * Every call to the root-key providers, counted and timed by provider, operation and outcome class, with a
 * child span of the current sampled RPC (src/telemetry/telemetry.ts). Labels are bounded: the provider is
 * named by the key URI's scheme, never by the key; the outcome is a class, never the error's text.
 */
export function withProviderTelemetry(provider: RootKeyProvider, telemetry: Telemetry): RootKeyProvider {
  if (!telemetry.enabled) return provider;
  const call = <T>(
    operation: string,
    keyUri: string,
    fn: () => Promise<T>,
    outcome: (err: unknown, value: T | undefined) => ProviderOutcome = providerOutcome,
  ) => telemetry.providerCall(providerName(keyUri), operation, fn, outcome);
  const wrapped: RootKeyProvider = {
    schemes: provider.schemes,
    resolve: (keyUri, opts) => call('resolve', keyUri, () => provider.resolve(keyUri, opts)),
    wrap: (keyUri, key, opts) => call('wrap', keyUri, () => provider.wrap(keyUri, key, opts)),
    unwrap: (w, opts) => call('unwrap', w.keyUri, () => provider.unwrap(w, opts)),
    status: (keyUri, opts) => call('status', keyUri, () => provider.status(keyUri, opts), statusOutcome),
    close: () => provider.close(),
  };
  if (provider.createKey) {
    const create = provider.createKey.bind(provider);
    wrapped.createKey = (base, hint, opts) => call('create_key', base, () => create(base, hint, opts));
  }
  if (provider.destroyKey) {
    const destroy = provider.destroyKey.bind(provider);
    wrapped.destroyKey = (keyUri, opts) => call('destroy_key', keyUri, () => destroy(keyUri, opts));
  }
  return wrapped;
}

/** The provider label: the key URI's scheme, as a fixed name. */
export function providerName(keyUri: string): string {
  if (keyUri.startsWith('local:')) return 'local';
  if (keyUri.startsWith('pkcs11:')) return 'pkcs11';
  if (keyUri.startsWith('https:')) return 'azure-key-vault';
  return 'other';
}

const REASON_OUTCOME: Readonly<Record<ProviderErrorReason, ProviderOutcome>> = {
  access_denied: 'revoked',
  key_disabled: 'revoked',
  key_deleted: 'revoked',
  unwrap_rejected: 'revoked',
  key_not_found: 'not_found',
  timeout: 'timeout',
  aborted: 'aborted',
  throttled: 'unavailable',
  server_error: 'unavailable',
  connection_error: 'unavailable',
  unknown: 'error',
};

/**
 * A call's outcome class, as src/core/provider-failure.ts classifies failures: a ProviderError by its
 * reason; an abort (a hedge's loser, a caller gone) `aborted`, a timeout `timeout`; anything else `error`.
 */
export function providerOutcome(err: unknown): ProviderOutcome {
  if (err === undefined) return 'ok';
  if (isProviderError(err)) return REASON_OUTCOME[err.reason];
  if (err instanceof Error && err.name === 'TimeoutError') return 'timeout';
  if (err instanceof Error && err.name === 'AbortError') return 'aborted';
  return 'error';
}

/** A status probe answers without throwing: its outcome is what it says of the key. */
function statusOutcome(err: unknown, status: KeyStatus | undefined): ProviderOutcome {
  if (err !== undefined || !status) return providerOutcome(err);
  if (status.usable) return 'ok';
  if (status.reason && status.reason in REASON_OUTCOME) return REASON_OUTCOME[status.reason as ProviderErrorReason];
  return status.kind === 'unavailable' ? 'unavailable' : 'revoked';
}
