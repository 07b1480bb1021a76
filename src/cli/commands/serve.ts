import { join } from 'node:path';
import { CONFIG_FLAGS, loadConfig, type Config } from '../../config/config.js';
import { unknownEnvVars } from '../../config/env-scan.js';
import { renderSettingsHelp } from '../../config/render.js';
import { startDaemon } from '../../daemon/daemon.js';
import { DEMO_POLICY, DEMO_TENANT } from '../../daemon/demo.js';
import { createLogger, errorField } from '../../log/logger.js';
import { parse, type OptionSpec } from '../options.js';
import { shellQuote as q } from '../shell-quote.js';

const SERVE_OPTIONS: OptionSpec = {
  ...Object.fromEntries(CONFIG_FLAGS.map((f) => [f, { type: 'string' }])),
  help: { type: 'boolean', short: 'h' },
};

/** `unwrapd serve --help`: every setting, from the settings table (src/config/settings.ts). */
export function serveHelp(): string {
  return `usage: unwrapd serve [--config FILE] [--<setting> VALUE]...

Runs the daemon. Each setting resolves in this order: flag, environment variable, config file (JSON:
--config FILE or UNWRAPD_CONFIG, keyed by the setting names of docs/configuration.md), default.
\`unwrapd config check\` validates a configuration and prints it with where each value came from.
${renderSettingsHelp()}
`;
}

/** `unwrapd serve`: runs the daemon until SIGTERM or SIGINT, then shuts down gracefully. */
export async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, SERVE_OPTIONS);
  if (values.help) {
    process.stdout.write(serveHelp());
    return 0;
  }
  const flags = Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'string')) as Record<
    string,
    string
  >;
  const config = loadConfig(flags);
  const log = createLogger(config.logLevel, { service: 'unwrapd' });
  for (const u of unknownEnvVars(process.env))
    log.warn('unknown environment variable: not an unwrapd setting, ignored', {
      variable: u.name,
      ...(u.suggestion ? { did_you_mean: u.suggestion } : {}),
    });
  const daemon = await startDaemon(config, { log });
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info('shutting down', { signal });
      daemon.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: errorField(err) });
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Announced once the signals are handled: whoever waits for the banner may stop the daemon at once.
    log.info('serving', {
      listen: daemon.address,
      admin_listen: daemon.adminAddress,
      data_dir: config.dataDir,
      registry: daemon.registry.description,
      demo_created: daemon.createdDemo,
      ...(daemon.metricsAddress ? { metrics_listen: daemon.metricsAddress } : {}),
    });
    printWelcome(
      daemon.address,
      daemon.adminAddress,
      config,
      daemon.registry.get(DEMO_TENANT, DEMO_POLICY) !== undefined,
    );
  });
}

/**
 * The banner: where the daemon listens and keeps its files, every path absolute (relative settings were
 * resolved against the working directory at start), and how a CLI in another directory finds this daemon.
 */
function printWelcome(address: string, adminAddress: string, config: Config, demo: boolean): void {
  const socket = address.startsWith('unix://') ? address.slice('unix://'.length) : undefined;
  // What is meant to be pasted into a shell is quoted where it needs it (a path with a space, say).
  const lines = [
    `unwrapd is listening on ${address} (Crypto: give this socket to the application)`,
    `admin socket: ${adminAddress} (Admin: operators only; the CLI's policy, status, evict and events commands use it)`,
    `data directory: ${config.dataDir}`,
    `local keystore: ${config.keystorePath} (\`unwrapd keys\` manages it: run it from the same directory, or give --data-dir ${q(config.dataDir)})`,
    '',
    'For the CLI in another directory or shell:',
    `  export UNWRAPD_ADDRESS=${q(address)} UNWRAPD_ADMIN_ADDRESS=${q(adminAddress)} UNWRAPD_DATA_DIR=${q(config.dataDir)}${
      config.keystorePath === join(config.dataDir, 'keystore.json') ? '' : ` UNWRAPD_KEYSTORE=${q(config.keystorePath)}`
    }`,
  ];
  if (demo) {
    const addr = `--address ${q(address)} `;
    lines.push(
      '',
      'Try it (in another terminal):',
      `  echo hello | npx unwrapd encrypt ${addr}--tenant ${DEMO_TENANT} --policy ${DEMO_POLICY} --context mailbox=alice > hello.uwe`,
      `  npx unwrapd decrypt ${addr}--tenant ${DEMO_TENANT} --context mailbox=alice < hello.uwe`,
      `  npx unwrapd policy list --admin-address ${q(adminAddress)}`,
      '',
      'Or with grpcurl (server reflection is on):',
      socket
        ? `  grpcurl -plaintext -unix -d '{"tenant":"${DEMO_TENANT}","policy_id":"${DEMO_POLICY}","plaintext":"aGVsbG8="}' ${q(socket)} unwrapd.v1.Crypto/Encrypt`
        : `  grpcurl -plaintext -d '{"tenant":"${DEMO_TENANT}","policy_id":"${DEMO_POLICY}","plaintext":"aGVsbG8="}' ${q(address)} unwrapd.v1.Crypto/Encrypt`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
