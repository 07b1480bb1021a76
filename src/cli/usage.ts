/**
 * Each command's usage, printed by `unwrapd <command> --help` (or `-h`), and the one-line pointer usage
 * errors end with. `serve --help` is rendered from the settings table instead (src/cli/commands/serve.ts).
 */

const CLIENT = `client options: --address unix:///path.sock|host:port (default: UNWRAPD_ADDRESS, UNWRAPD_LISTEN, or the
socket in --data-dir/UNWRAPD_DATA_DIR/.unwrapd), --json, --deadline-ms N`;

const ADMIN = `operator options: --admin-address unix:///path|host:port or --admin-socket PATH (default:
UNWRAPD_ADMIN_ADDRESS, UNWRAPD_ADMIN_LISTEN, admin.sock beside --address's socket, or admin.sock in the data dir)`;

const CALL = `--purpose user|system (default user) and --request-id ID are recorded in the audit trail`;

export const USAGE: Record<string, string> = {
  encrypt: `usage: unwrapd encrypt --tenant T --policy P [--context k=v]... [--in FILE] [--out FILE] [--stream] [--quiet]

Encrypts FILE (or stdin) into an envelope, written to --out FILE (or stdout). Up to 1 MiB: one block; larger,
with --stream, or over the daemon's maxBlockBytes: a segmented envelope, streamed, with progress on stderr when
it is a terminal.
--json prints a description of the result (with --out, of the file written; without, a small envelope as base64).
${CALL}
${CLIENT}`,
  decrypt: `usage: unwrapd decrypt --tenant T [--context k=v]... [--in FILE] [--out FILE] [--quiet]

Decrypts an envelope of either kind from FILE (or stdin). --out FILE appears only once the whole content has
verified; on stdout, a segmented envelope's plaintext is written as it verifies, so a truncated or altered
stream fails (exit 1) after writing the segments that verified before it.
--json prints a description of the result (with --out, of the file written; without, a small plaintext as base64).
${CALL}
${CLIENT}`,
  rewrap: `usage: unwrapd rewrap --tenant T [--target-policy P] [--context k=v]... [--in FILE] [--out FILE]

Rewraps an envelope under another policy, or under its policy's newest key version: the content is not
decrypted. A segmented envelope, of any size, is rewrapped by its header alone: only the header is sent, and
the output is the new header followed by the segments as stored (--out may name the input file).
--json prints a description of the result (with --out, of the file written; a segmented envelope needs --out).
${CALL}
${CLIENT}`,
  inspect: `usage: unwrapd inspect [--in FILE] [--json]

Prints an envelope's cleartext header (kind, tenant, policy, key version, sizes; for a segmented envelope the
segment size and count) from FILE or stdin. Needs no daemon and no key; it does not check authenticity.`,
  status: `usage: unwrapd status [--json]

The daemon's cache, keys and revocation feed state (never calls a key holder).
${CLIENT}
${ADMIN}`,
  evict: `usage: unwrapd evict --tenant T [--policy P] | --all

Drops cached keys (of a tenant, of one policy, or --all) without revoking anything: the next use unwraps again.
${CLIENT}
${ADMIN}`,
  events: `usage: unwrapd events [--tenant T] [--from N] [--count N] [--json]

Follows policy events (WatchEvents), one a line; --from N first replays from sequence N; --count N stops after N.
${CLIENT}
${ADMIN}`,
  health: `usage: unwrapd health [--service NAME] [--json]

A grpc.health.v1 check: exit 0 when SERVING, 1 otherwise.
${CLIENT}`,
  version: `usage: unwrapd version (or unwrapd --version)

Prints the version of unwrapd.`,
  'config check': `usage: unwrapd config check [--config FILE] [--json] [any serve flag]

Resolves the configuration as \`unwrapd serve\` would, validates it and prints each setting with where its value
came from (secrets masked), and the UNWRAPD_* variables unwrapd does not read. Exit 0 when valid, 2 when not.`,
  'policy create': `usage: unwrapd policy create --tenant T --id P --key-a URI --key-b URI [--availability-key URI|BASE]
                             [--mode mailbox|files] [--geo G] [--name N]

Creates a policy under two customer keys. Without --availability-key (or with a base: local:,
pkcs11:token=T, https://VAULT/keys/) the policy gets an availability key of its own, created.
${CLIENT}
${ADMIN}`,
  'policy list': `usage: unwrapd policy list [--tenant T] [--json]

Lists the policies (a table; --json: the full records).
${CLIENT}
${ADMIN}`,
  'policy show': `usage: unwrapd policy show --tenant T --id P [--json]
${CLIENT}
${ADMIN}`,
  'policy roll': `usage: unwrapd policy roll --tenant T --id P --role customer-a|customer-b|availability [--key URI] [--recovery --reason R]

Moves a role to a new root key (or its newest version), rewrapping every key version.
${CLIENT}
${ADMIN}`,
  'policy refresh': `usage: unwrapd policy refresh --tenant T --id P [--recovery --reason R]

Rewraps every key version under the latest versions of the policy's root keys.
${CLIENT}
${ADMIN}`,
  'policy rotate': `usage: unwrapd policy rotate --tenant T --id P [--min-decrypt-version N --yes]

Adds a new intermediate key version for new content. --min-decrypt-version N also makes content under versions
below N undecryptable, which cannot be undone: it needs --yes.
${CLIENT}
${ADMIN}`,
  'policy revoke': `usage: unwrapd policy revoke --tenant T --id P [--reason R]

Revokes the policy: its cached keys are evicted at once and nothing decrypts until the customer acts.
${CLIENT}
${ADMIN}`,
  'policy purge': `usage: unwrapd policy purge --tenant T --id P --yes [--force --reason R]

Irreversible: destroys the policy's key copies and its availability key; nothing decrypts its data ever again.
${CLIENT}
${ADMIN}`,
  'policy migrate-availability': `usage: unwrapd policy migrate-availability [--tenant T] [--id P] [--base BASE] [--dry-run]

Gives each policy that shares an availability key with another a key of its own.
${CLIENT}
${ADMIN}`,
  'keys create': `usage: unwrapd keys create NAME [--bits 3072|4096] [--keystore FILE] [--data-dir DIR] [--json]

Creates an RSA key in the local keystore (--keystore, UNWRAPD_KEYSTORE, or keystore.json in --data-dir,
UNWRAPD_DATA_DIR or ./.unwrapd) and prints the keystore's absolute path. A daemon reads only its own keystore
(its banner prints it).`,
  'keys list': `usage: unwrapd keys list [--keystore FILE] [--data-dir DIR] [--json]

Lists the local keystore's keys (a table; --json: the records); the keystore's path goes to stderr.`,
  'keys rotate': `usage: unwrapd keys rotate NAME [--keystore FILE] [--data-dir DIR] [--json]

Adds a new version of a local key.`,
  'keys disable': `usage: unwrapd keys disable NAME [--version N] [--keystore FILE] [--data-dir DIR] [--json]

Disables a local key (or one version): unwraps under it fail, as when a customer revokes.`,
  'keys enable': `usage: unwrapd keys enable NAME [--version N] [--keystore FILE] [--data-dir DIR] [--json]

Enables a local key (or one version) again.`,
  'keys delete': `usage: unwrapd keys delete NAME --yes [--keystore FILE] [--data-dir DIR] [--json]

Irreversible: deletes a local key's private material; content only it protects cannot be decrypted again.`,
  'keys check': `usage: unwrapd keys check URI [--json] [--deadline-ms N] [config flags]

Can unwrapd use this root key (local:, https: Key Vault id, pkcs11:)? Resolves it, reads its status, wraps and
unwraps a random value, and says why not. Exit 0 when usable, 1 when not.`,
  'audit verify': `usage: unwrapd audit verify [--file F | --pg-url URL [--pg-schema S] | --export FILE] [--json]

Checks the audit trail's hash chain; exit 1 when broken, when the log does not exist, or (UNVERIFIED) when
the log's head file (audit.log.head, which shows a cut at the end) is missing.`,
  'audit list': `usage: unwrapd audit list [--tenant T] [--policy P] [--type X]... [--since T] [--until T] [--from N] [--limit N] [--json]
${CLIENT}
${ADMIN}`,
  'audit follow': `usage: unwrapd audit follow [--tenant T] [--policy P] [--type X]... [--since T] [--from N] [--limit N] [--json]
${CLIENT}
${ADMIN}`,
  'audit export': `usage: unwrapd audit export --from N --to M [--out FILE] [--file F | --pg-url URL [--pg-schema S]]

Writes records N..M as JSON lines and a hash-anchored checkpoint (docs/audit.md).`,
};

/** Commands that take a subcommand. */
const GROUPS = new Set(['policy', 'keys', 'audit', 'config']);

/** The usage key for a command line: "encrypt", "policy rotate", or "policy" for a group without a known subcommand. */
export function usageKey(argv: readonly string[]): string {
  const [command = '', sub] = argv;
  if (GROUPS.has(command) && sub !== undefined && USAGE[`${command} ${sub}`] !== undefined) return `${command} ${sub}`;
  return command;
}

/** The usage text for a key: one command's, or all of a group's. Undefined for an unknown command. */
export function usageText(key: string): string | undefined {
  if (USAGE[key] !== undefined) return `${USAGE[key]}\n`;
  if (!GROUPS.has(key)) return undefined;
  const lines = Object.entries(USAGE)
    .filter(([k]) => k.startsWith(`${key} `))
    .map(([, text]) => text.split('\n')[0]!);
  return `${lines.join('\n')}\n\n\`unwrapd ${key} <subcommand> --help\` says more.\n`;
}

/** Whether argv asks for help: --help or -h before any `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}
