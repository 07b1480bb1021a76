import { closestName } from '../config/closest-name.js';
import { VERSION } from '../version.js';
import { describeCliError, UsageError } from './cli-error.js';
import { cliIo, withCliIo, type CliIo } from './cli-io.js';
import { usageKey, usageText, wantsHelp } from './usage.js';

const HELP = `unwrapd: customer-key encryption sidecar

usage: unwrapd <command> [options]

  serve                      run the daemon; \`unwrapd serve --help\` lists every setting (flag, environment variable)
  config check               [--config F] [--json] [serve flags]   validate the configuration and print it, secrets
                             masked, with where each value came from; reports unknown UNWRAPD_* variables
  policy create              --tenant T --id P --key-a URI --key-b URI [--availability-key URI|BASE] [--mode mailbox|files] [--geo G] [--name N]
                             no --availability-key (or a base: local:, pkcs11:token=T, https://VAULT/keys/): the policy gets its own, created
  policy list                [--tenant T]
  policy show                --tenant T --id P
  policy roll                --tenant T --id P --role customer-a|customer-b|availability [--key URI] [--recovery --reason R]
  policy refresh             --tenant T --id P [--recovery --reason R]   rewrap under the latest root-key versions
  policy rotate              --tenant T --id P [--min-decrypt-version N --yes]   N: older content undecryptable, for good
  policy revoke              --tenant T --id P [--reason R]
  policy purge               --tenant T --id P --yes [--force --reason R]   irreversible: destroys the policy's availability key
  policy migrate-availability [--tenant T] [--id P] [--base BASE] [--dry-run]   give policies sharing an availability key their own
  inspect                    [--in FILE] [--json]   an envelope's cleartext header (kind, tenant, policy, key version, sizes)
  encrypt                    --tenant T --policy P [--context k=v]... [--in FILE] [--out FILE] [--stream] [--quiet]
                             up to 1 MiB: one block; larger (or --stream): a segmented envelope, streamed
  decrypt                    --tenant T [--context k=v]... [--in FILE] [--out FILE] [--quiet]   either kind of envelope
  rewrap                     --tenant T [--target-policy P] [--context k=v]... [--in FILE] [--out FILE]
  status                     cache, keys and feed state
  events                     [--tenant T] [--from N] [--count N]   follow policy events (WatchEvents); --from replays
  health                     grpc.health.v1 check (exit 0 when SERVING) [--service NAME]
  evict                      --tenant T [--policy P] | --all
  keys create|rotate|disable|enable|delete NAME   manage the local keystore [--keystore FILE] [--version N]
                             (delete is irreversible: it needs --yes)
  keys list
  keys check URI             can unwrapd use this root key (local:, https: Key Vault id, pkcs11:)? resolve, status,
                             a test wrap/unwrap; says why not [--json] [--deadline-ms N] [config flags]
  audit verify               [--file F | --pg-url URL | --export FILE]   check the audit trail's hash chain
  audit list|follow          [--tenant T] [--policy P] [--type X]... [--since T] [--until T] [--from N] [--limit N]   read the audit trail
  audit export               --from N --to M [--out FILE]   records and a hash-anchored checkpoint (docs/audit.md)
  version                    the version of unwrapd (also --version)

\`unwrapd <command> --help\` describes one command.

client options: --address unix:///path.sock|host:port (default: UNWRAPD_ADDRESS, UNWRAPD_LISTEN, or the socket
in --data-dir/UNWRAPD_DATA_DIR/.unwrapd), --json, --deadline-ms N
operator commands (policy, status, evict, events) use the admin socket: --admin-address unix:///path|host:port or
--admin-socket PATH (default: UNWRAPD_ADMIN_ADDRESS, UNWRAPD_ADMIN_LISTEN, admin.sock beside --address's socket,
or admin.sock in the data dir)
`;

// Each command's module is loaded when it runs, so a command loads only what it uses (serve's is the daemon).
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  events: async (args) => (await import('./commands/events.js')).events(args),
  serve: async (args) => (await import('./commands/serve.js')).serve(args),
  config: async (args) => (await import('./commands/config.js')).config(args),
  policy: async (args) => (await import('./commands/policy.js')).policy(args),
  encrypt: async (args) => (await import('./commands/crypto.js')).encrypt(args),
  decrypt: async (args) => (await import('./commands/crypto.js')).decrypt(args),
  rewrap: async (args) => (await import('./commands/crypto.js')).rewrap(args),
  inspect: async (args) => (await import('./commands/inspect.js')).inspect(args),
  status: async (args) => (await import('./commands/status.js')).status(args),
  evict: async (args) => (await import('./commands/status.js')).evict(args),
  keys: async (args) => (await import('./commands/keys.js')).keys(args),
  health: async (args) => (await import('./commands/health.js')).health(args),
  audit: async (args) => (await import('./commands/audit.js')).audit(args),
  version: async () => {
    cliIo().stdout.write(`unwrapd ${VERSION}\n`);
    return 0;
  },
};

async function dispatch(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    cliIo().stdout.write(HELP);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-V') return COMMANDS.version!([]);
  const run = COMMANDS[command];
  if (!run) {
    const near = closestName(command, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${command}"${near ? `: did you mean "${near}"?` : ''}`);
  }
  if (wantsHelp(argv)) {
    // `serve --help` lists every setting, from the settings table; every other command's usage is in usage.ts.
    const text = command === 'serve' ? (await import('./commands/serve.js')).serveHelp() : usageText(usageKey(argv));
    if (text !== undefined) {
      cliIo().stdout.write(text);
      return 0;
    }
  }
  return run(args);
}

/**
 * Runs the command line `argv` (without `unwrapd`) against `io` and resolves to its exit code: 0, 1 for a
 * failure, 2 for a usage error, the one error line written to `io.stderr` (cli-error.ts). Never rejects.
 */
export async function runCommandLine(argv: string[], io: CliIo): Promise<number> {
  try {
    return await withCliIo(io, () => dispatch(argv));
  } catch (err) {
    const { line, exitCode } = describeCliError(err, COMMANDS[argv[0] ?? ''] ? usageKey(argv) : '');
    io.stderr.write(`unwrapd: ${line}\n`);
    return exitCode;
  }
}
