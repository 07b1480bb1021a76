import { AZURE_CREDENTIAL_KINDS } from '../providers/azure-credential-kind.js';
import { setting } from './setting.js';
import { integer, keyBase, oneOf, text } from './setting-type.js';

const DAY_MS = 24 * 3_600_000;

/**
 * Root-key providers: Azure Key Vault, PKCS#11, the status probe, where availability keys are created.
 * To add a setting: see src/config/settings.ts.
 */
export const PROVIDER_SETTINGS = [
  setting({
    key: 'azureCredential',
    flag: 'azure-credential',
    env: 'UNWRAPD_AZURE_CREDENTIAL',
    type: oneOf(AZURE_CREDENTIAL_KINDS),
    default: 'default',
    summary: '@azure/identity credential for Key Vault (https: key ids)',
    description:
      'credential for Azure Key Vault (`https:` key ids): `default` (DefaultAzureCredential: workload identity, managed identity, environment), `workload-identity`, `managed-identity`, `client-secret` (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), `azure-cli`. Made on the first use of an https key; missing variables for `workload-identity`/`client-secret` stop the daemon at start. docs/providers.md',
    group: 'providers',
  }),
  setting({
    key: 'azureMaxRetries',
    flag: 'azure-max-retries',
    env: 'UNWRAPD_AZURE_MAX_RETRIES',
    type: integer(0, 10),
    default: 2,
    summary: 'SDK retries after the first try',
    description:
      'SDK retries after the first try (0 to 10), for vault and token requests; a 429 without Retry-After is retried with exponential backoff too',
    group: 'providers',
  }),
  setting({
    key: 'azureRetryDelayMs',
    flag: 'azure-retry-delay-ms',
    env: 'UNWRAPD_AZURE_RETRY_DELAY_MS',
    type: integer(1, 60_000),
    default: 200,
    summary: 'first retry delay',
    description: 'first retry delay (exponential with jitter after it)',
    group: 'providers',
  }),
  setting({
    key: 'azureMaxRetryDelayMs',
    flag: 'azure-max-retry-delay-ms',
    env: 'UNWRAPD_AZURE_MAX_RETRY_DELAY_MS',
    type: integer(1, 120_000),
    default: 2_000,
    summary: 'cap on a retry delay and on an honoured Retry-After',
    description:
      'cap on one retry delay and on an honoured Retry-After (a longer Retry-After fails at once as `throttled`)',
    group: 'providers',
  }),
  setting({
    key: 'azureTryTimeoutMs',
    flag: 'azure-try-timeout-ms',
    env: 'UNWRAPD_AZURE_TRY_TIMEOUT_MS',
    type: integer(10, 120_000),
    default: 5_000,
    summary: 'time for one HTTP try to the vault',
    description:
      "time for one HTTP try to the vault or to the identity endpoint; the caller's deadline and `providerTimeoutMs` bound the whole call",
    group: 'providers',
  }),
  setting({
    key: 'probeIntervalMs',
    flag: 'probe-interval-ms',
    env: 'UNWRAPD_PROBE_INTERVAL_MS',
    type: integer(0, DAY_MS),
    default: 60_000,
    summary: "status probe of cached policies' customer keys; 0 = off",
    description:
      'every interval (±20 %), ask the provider for the status of the customer keys of cached policies and evict those revoked; 0 = off. Cost: `min(keys, probeMaxCalls) × 3600000 / probeIntervalMs` status calls an hour (docs/providers.md)',
    group: 'providers',
  }),
  setting({
    key: 'probeMaxCalls',
    flag: 'probe-max-calls',
    env: 'UNWRAPD_PROBE_MAX_CALLS',
    type: integer(1, 100_000),
    default: 100,
    summary: 'most status calls one probe round makes',
    description: 'most status calls one probe round makes (round-robin across rounds beyond it)',
    group: 'providers',
  }),
  setting({
    key: 'pkcs11Module',
    flag: 'pkcs11-module',
    env: 'UNWRAPD_PKCS11_MODULE',
    type: text,
    default: '',
    defaultText: '(off)',
    summary: 'PKCS#11 module for pkcs11: key URIs',
    description: 'PKCS#11 module for `pkcs11:` key URIs, e.g. `/usr/lib/softhsm/libsofthsm2.so`; must exist',
    group: 'providers',
  }),
  setting({
    key: 'pkcs11Token',
    flag: 'pkcs11-token',
    env: 'UNWRAPD_PKCS11_TOKEN',
    type: text,
    default: '',
    summary: 'token used by pkcs11: URIs that name none',
    description: 'token label used by `pkcs11:` URIs that name no token',
    group: 'providers',
  }),
  setting({
    key: 'pkcs11PinFile',
    flag: 'pkcs11-pin-file',
    env: 'UNWRAPD_PKCS11_PIN_FILE',
    type: text,
    default: '',
    summary: "file holding the token's user PIN",
    description:
      "file holding the token's user PIN (one trailing newline ignored); without it the PIN comes from the environment variable `UNWRAPD_PKCS11_PIN` (there is deliberately no flag or config-file key for the PIN itself). One of the two is required with `pkcs11Module`",
    group: 'providers',
  }),
  setting({
    key: 'availabilityKeyBase',
    flag: 'availability-key-base',
    env: 'UNWRAPD_AVAILABILITY_KEY_BASE',
    type: keyBase,
    default: 'local:',
    summary: "where a policy's own availability key is created",
    description:
      "where a policy's own availability key is created when `CreatePolicy` names none (and for `policy migrate-availability` without `--base`): a key base, `local:` (the local keystore), `pkcs11:token=<label>` (needs `pkcs11Module`), or `https://<vault>.vault.azure.net/keys/` (the operator's vault). Purge destroys the key (docs/lifecycle.md). In a fleet, use a base every instance reaches (`pkcs11:` or `https:`): a `local:` key exists only in the keystore of the instance that created it",
    group: 'providers',
  }),
] as const;
