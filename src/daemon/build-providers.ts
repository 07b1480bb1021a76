import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config.js';
import { missingCredentialEnv } from '../providers/azure-credential-kind.js';
import { AZURE_SCHEME } from '../providers/azure-key-id.js';
import { lazyProvider } from '../providers/lazy-provider.js';
import { createLocalProvider } from '../providers/local-provider.js';
import { createPkcs11Provider } from '../providers/pkcs11-provider.js';
import { createProviderRouter } from '../providers/provider-router.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';

/**
 * The built-in root-key providers for a config, shared by the daemon and `unwrapd keys check`:
 * - `local:` the local keystore (always);
 * - `https:` Azure Key Vault (always; its code, the SDK clients and the credential are loaded and made on the
 *   first https key, so no Azure setting is needed, and nothing of Azure is loaded, until one is used);
 * - `pkcs11:` a PKCS#11 token, when `pkcs11Module` is set.
 *
 * Configuration mistakes that can be seen now fail now (ConfigError): a credential kind whose environment
 * variables are missing, a PKCS#11 module path that does not exist, a PKCS#11 module without a PIN.
 */
export function createBuiltInProviders(config: Config, env: NodeJS.ProcessEnv = process.env): RootKeyProvider[] {
  const providers: RootKeyProvider[] = [createLocalProvider({ keystorePath: config.keystorePath })];

  const missing = missingCredentialEnv(config.azureCredential, env);
  if (missing.length > 0)
    throw new ConfigError(`azureCredential ${config.azureCredential} needs ${missing.join(', ')} in the environment`);
  const azure = {
    credentialKind: config.azureCredential,
    maxRetries: config.azureMaxRetries,
    retryDelayMs: config.azureRetryDelayMs,
    maxRetryDelayMs: config.azureMaxRetryDelayMs,
    tryTimeoutMs: config.azureTryTimeoutMs,
    credentialEnv: env,
  };
  providers.push(
    lazyProvider(
      [AZURE_SCHEME],
      async () => (await import('../providers/azure-key-vault-provider.js')).createAzureKeyVaultProvider(azure),
      true,
    ),
  );

  if (config.pkcs11Module) {
    if (!existsSync(config.pkcs11Module)) throw new ConfigError(`pkcs11Module ${config.pkcs11Module} does not exist`);
    providers.push(
      createPkcs11Provider({
        modulePath: config.pkcs11Module,
        pin: pkcs11Pin(config, env),
        ...(config.pkcs11Token ? { defaultToken: config.pkcs11Token } : {}),
      }),
    );
  }
  return providers;
}

/** The PKCS#11 user PIN: the file `pkcs11PinFile` (trailing newline dropped), else UNWRAPD_PKCS11_PIN. Never logged. */
function pkcs11Pin(config: Config, env: NodeJS.ProcessEnv): string {
  if (config.pkcs11PinFile) {
    try {
      return readFileSync(config.pkcs11PinFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(
        `cannot read pkcs11PinFile ${config.pkcs11PinFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  const pin = env.UNWRAPD_PKCS11_PIN;
  if (!pin) throw new ConfigError('pkcs11Module is set but no PIN: set pkcs11PinFile or UNWRAPD_PKCS11_PIN');
  return pin;
}

/**
 * The root-key providers by URI scheme: the built-in ones, and any extra ones (an extra provider replaces the
 * built-in one serving the same scheme: tests point Key Vault at a local server), behind one router, wrapped
 * when asked (tests count calls or inject faults).
 */
export function createProviders(
  config: Config,
  opts: { extraProviders?: RootKeyProvider[]; wrapProvider?: (provider: RootKeyProvider) => RootKeyProvider },
): RootKeyProvider {
  const extra = opts.extraProviders ?? [];
  const claimed = new Set(extra.flatMap((p) => p.schemes));
  const builtIn = createBuiltInProviders(config).filter((p) => !p.schemes.some((s) => claimed.has(s)));
  const router = createProviderRouter([...builtIn, ...extra]);
  return opts.wrapProvider ? opts.wrapProvider(router) : router;
}
