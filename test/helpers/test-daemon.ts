import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnwrapdClient } from '../../src/client/client.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { instrumentProvider, type InstrumentedProvider } from '../../src/providers/instrumented-provider.js';
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
 * A real daemon on a real Unix socket in a temp dir, on the embedded default (local keystore, file
 * registry, demo policy `demo/demo-mailbox`).
 */
export async function startTestDaemon(overrides: Partial<Config> = {}, opts: { log?: Logger; dir?: string; extraProviders?: RootKeyProvider[] } = {}): Promise<TestDaemon> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'uwd-')));
  const config = { ...loadConfig({}, { UNWRAPD_DATA_DIR: dir }), shutdownTimeoutMs: 5_000, ...overrides };
  let provider: InstrumentedProvider | undefined;
  const daemon = await startDaemon(config, {
    log: opts.log ?? silentLogger,
    wrapProvider: (p) => (provider = instrumentProvider(p)),
    ...(opts.extraProviders ? { extraProviders: opts.extraProviders } : {}),
  });
  const client = new UnwrapdClient(daemon.address, { maxMessageBytes: config.maxBlockBytes + 1024 * 1024 });
  provider!.resetCounts();
  return {
    daemon,
    client,
    provider: provider!,
    dir,
    config,
    async stop() {
      client.close();
      await daemon.shutdown();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates another mailbox policy for the demo tenant over the same local keys. */
export async function createPolicy(client: UnwrapdClient, id: string, tenant = 'demo') {
  return client.createPolicy({
    tenant,
    id,
    name: id,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: 'local:demo-customer-a',
    customerKeyB: 'local:demo-customer-b',
    availabilityKey: '',
  });
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
