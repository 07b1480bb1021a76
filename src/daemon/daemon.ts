import { mkdir } from 'node:fs/promises';
import { KeyCache } from '../cache/key-cache.js';
import type { Config } from '../config/config.js';
import { CryptoService } from '../core/crypto-service.js';
import { KeyUnwrapper } from '../core/key-unwrapper.js';
import { PolicyService } from '../core/policy-service.js';
import { StatusReporter } from '../core/status-reporter.js';
import { MAX_ENVELOPE_OVERHEAD } from '../crypto/envelope-format.js';
import type { Logger } from '../log/logger.js';
import { createLocalProvider } from '../providers/local-provider.js';
import { createProviderRouter } from '../providers/provider-router.js';
import type { RootKeyProvider } from '../providers/root-key-provider.js';
import { createFileRegistry } from '../registry/file-registry.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import { adminHandlers } from '../server/admin-handlers.js';
import { cryptoHandlers } from '../server/crypto-handlers.js';
import { startGrpcServer } from '../server/grpc-server.js';
import { VERSION } from '../version.js';
import { ensureDemo } from './demo.js';

export interface DaemonOptions {
  log: Logger;
  /** Wraps the root-key provider (tests count calls or inject latency and faults). */
  wrapProvider?: (provider: RootKeyProvider) => RootKeyProvider;
}

export interface Daemon {
  address: string;
  config: Config;
  cache: KeyCache;
  registry: PolicyRegistry;
  provider: RootKeyProvider;
  crypto: CryptoService;
  policies: PolicyService;
  status: StatusReporter;
  createdDemo: boolean;
  /** Runs once: stop accepting, drain in-flight calls (bounded), zeroize the cache, close registry and providers. */
  shutdown(): Promise<{ drained: boolean }>;
}

/** Headroom over a block for the envelope header and the other fields of a message. */
const MESSAGE_HEADROOM = 64 * 1024;

/** The composition root: builds every part from the config and owns shutdown. */
export async function startDaemon(config: Config, opts: DaemonOptions): Promise<Daemon> {
  const log = opts.log;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const base = createProviderRouter([createLocalProvider({ keystorePath: config.keystorePath })]);
  const provider = opts.wrapProvider ? opts.wrapProvider(base) : base;
  const registry = createFileRegistry({ path: config.registryPath, limits: { maxPoliciesPerTenant: config.maxPoliciesPerTenant } });
  await registry.open();

  const cache = new KeyCache({ maxEntries: config.cacheMaxEntries, maxAgeMs: config.cacheMaxAgeMs });
  const unwrapper = new KeyUnwrapper({
    provider,
    providerTimeoutMs: config.providerTimeoutMs,
    onProviderError: (err, policy) =>
      log.warn('root key failed to unwrap', { tenant: policy.tenant, policy: policy.id, key_uri: err.keyUri, kind: err.kind, reason: err.reason }),
  });
  const policies = new PolicyService({ registry, provider, providerTimeoutMs: config.providerTimeoutMs });
  const crypto = new CryptoService({
    registry,
    cache,
    unwrapper,
    maxBlockBytes: config.maxBlockBytes,
    maxEnvelopeBytes: config.maxBlockBytes + MAX_ENVELOPE_OVERHEAD,
  });
  // A policy that stops being usable (revoked or purged, here or by another process) loses its keys at once.
  registry.onChange((record) => {
    if (record.state === 'revoked' || record.state === 'purged') cache.evictPolicy(record.tenant, record.id);
  });

  const createdDemo = config.demo ? await ensureDemo(config.keystorePath, registry, policies, log) : false;

  const status = new StatusReporter({ version: VERSION, listen: config.listen, cache, unwrapper, registry, providerSchemes: provider.schemes, feeds: [] });
  const server = await startGrpcServer({
    listen: config.listen,
    maxMessageBytes: config.maxBlockBytes + MESSAGE_HEADROOM,
    socketMode: config.socketMode,
    crypto: cryptoHandlers(crypto, log),
    admin: adminHandlers({ policies, cache, status }, log),
  });
  status.serving = true;

  let stopping: Promise<{ drained: boolean }> | undefined;
  return {
    address: server.address,
    config,
    cache,
    registry,
    provider,
    crypto,
    policies,
    status,
    createdDemo,
    shutdown() {
      stopping ??= (async () => {
        status.serving = false;
        const result = await server.shutdown(config.shutdownTimeoutMs);
        const zeroized = cache.clear();
        await registry.close();
        await provider.close();
        log.info('stopped', { drained: result.drained, zeroized_entries: zeroized });
        return result;
      })();
      return stopping;
    },
  };
}
