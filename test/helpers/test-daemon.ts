import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnwrapdClient } from '../../src/client/client.js';
import type { Clock } from '../../src/clock.js';
import { resolveConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { instrumentProvider, type InstrumentedProvider } from './instrumented-provider.js';
import type { RootKeyProvider } from '../../src/providers/root-key-provider.js';

export interface TestDaemon {
  daemon: Daemon;
  client: UnwrapdClient;
  /** Wraps the real local provider: counts calls, injects latency and faults. */
  provider: InstrumentedProvider;
  dir: string;
  config: Config;
  stop(): Promise<void>;
}

/**
 * The roles tests get unless they say otherwise: the data socket `user,system`, the admin socket every role
 * (tests use PURPOSE_SYSTEM, recovery and forced purges). The production defaults are `user` and
 * `admin,user,system` (src/config/settings-trust.ts); tests of those pass `productionRoles`.
 */
export const TEST_ROLES = { callerRoles: 'user,system', adminSocketRoles: 'user,system,admin,recovery' } as const;
export const productionRoles = { callerRoles: 'user', adminSocketRoles: 'admin,user,system' } as const;

/**
 * The temp dirs of test daemons not stopped yet. A test that fails before its daemon's stop() leaves one
 * behind, with the daemon's keystore (private keys) in it: they are removed when the test process exits,
 * whatever the outcome.
 */
const ownTempDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of ownTempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A real daemon on real Unix sockets (data: Crypto; admin: Admin) in a temp dir, on the embedded default
 * (local keystore, file registry, demo policy `demo/demo-mailbox`). `client` reaches both listeners.
 */
export async function startTestDaemon(
  overrides: Partial<Config> = {},
  opts: {
    log?: Logger;
    dir?: string;
    extraProviders?: RootKeyProvider[];
    transport?: DaemonOptions['transport'];
    clock?: Clock;
    telemetry?: DaemonOptions['telemetry'];
    revocationSources?: DaemonOptions['revocationSources'];
  } = {},
): Promise<TestDaemon> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'uwd-')));
  if (!opts.dir) ownTempDirs.add(dir);
  // resolveConfig, not a spread over a loaded Config: derived defaults (listen, keystorePath, ... from
  // dataDir; streamMaxSegmentBytes from streamSegmentBytes; demo from registryBackend) follow the overrides.
  // Unvalidated: tests use values below the operator ranges (and both listeners on port 0).
  const config = resolveConfig(
    { dataDir: dir, shutdownTimeoutMs: 5_000, ...TEST_ROLES, ...overrides },
    { validate: false },
  );
  let provider: InstrumentedProvider | undefined;
  const daemon = await startDaemon(config, {
    log: opts.log ?? silentLogger,
    wrapProvider: (p) => (provider = instrumentProvider(p)),
    ...(opts.extraProviders ? { extraProviders: opts.extraProviders } : {}),
    ...(opts.transport ? { transport: opts.transport } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.telemetry ? { telemetry: opts.telemetry } : {}),
    ...(opts.revocationSources ? { revocationSources: opts.revocationSources } : {}),
  });
  const client = new UnwrapdClient(daemon.address, {
    adminAddress: daemon.adminAddress,
    maxMessageBytes: config.maxBlockBytes + 1024 * 1024,
  });
  // Both channels connected before the test starts, as one shared channel used to be: tests that time a
  // call against another must not also time a connection setup.
  // (Not with TLS on a TCP listener: those tests bring clients with their own credentials.)
  if (!config.tlsCertFile) await client.waitForReady(30_000, { admin: true });
  provider!.resetCounts();
  return {
    daemon,
    client,
    provider: provider!,
    dir,
    config,
    async stop() {
      client.close();
      try {
        await daemon.shutdown();
      } finally {
        if (!opts.dir) {
          // Retried: a file still being written into the data dir as it is removed (ENOTEMPTY) must not leave
          // the keystore behind, nor fail a test that passed.
          await rm(dir, { recursive: true, force: true, maxRetries: 5 });
          ownTempDirs.delete(dir);
        }
      }
    },
  };
}

/** The CreatePolicy request for another mailbox policy over the demo's local customer keys. */
export function mailboxPolicyRequest(id: string, tenant = 'demo') {
  return {
    tenant,
    id,
    name: id,
    mode: 'POLICY_MODE_MAILBOX' as const,
    customerKeyA: 'local:demo-customer-a',
    customerKeyB: 'local:demo-customer-b',
    availabilityKey: '',
  };
}

/** Creates another mailbox policy for the demo tenant over the same local keys. */
export async function createPolicy(client: UnwrapdClient, id: string, tenant = 'demo') {
  return client.createPolicy(mailboxPolicyRequest(id, tenant));
}

/** The gRPC status code of a rejected call (fails the test if it resolved). */
export async function codeOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; details: string };
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}
