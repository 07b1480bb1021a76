import type * as grpc from '@grpc/grpc-js';
import { basename, dirname } from 'node:path';
import { ConfigError } from '../config/config-error.js';
import { UnwrapdError } from '../errors.js';
import { ProviderError } from '../providers/provider-error.js';

/** A usage mistake: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * One line for any error, and the exit code: 2 for usage, 1 for everything else. `command` ("encrypt",
 * "policy rotate") points a usage error at that command's --help.
 */
export function describeCliError(err: unknown, command = ''): { line: string; exitCode: number } {
  if (err instanceof UsageError)
    return { line: `usage: ${err.message} (see unwrapd ${command ? `${command} ` : ''}--help)`, exitCode: 2 };
  if (err instanceof ConfigError) return { line: `config: ${err.message}`, exitCode: 2 };
  if (isServiceError(err)) {
    const name = GRPC_STATUS_NAMES[err.code] ?? String(err.code);
    // The reason of the status details (docs/api.md, "Errors"), when the status carried one: only the daemon
    // answers with one, so a status without it is the channel's own (no daemon at the address).
    const reason = (err as { reason?: unknown }).reason;
    const label = typeof reason === 'string' ? `${name} (${reason})` : name;
    const hint = typeof reason === 'string' ? (REASON_HINTS[reason] ?? '') : channelHint(err);
    const details = err.details.replace(/\s*Resolution note:\s*$/, ''); // grpc-js's empty trailer on a failed connect
    return { line: `${label}: ${details}${hint}`, exitCode: 1 };
  }
  if (err instanceof UnwrapdError) return { line: `${err.code}: ${err.message}`, exitCode: 1 };
  if (err instanceof ProviderError) return { line: `${err.kind} (${err.reason}): ${err.message}`, exitCode: 1 };
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (e.code && PERMISSION_CODES.has(e.code) && e.path)
      return { line: permissionLine(e, e.path, command), exitCode: 1 };
    // Node's file-system errors already start with their code ("EACCES: permission denied, open ...").
    return { line: e.code && !e.message.startsWith(e.code) ? `${e.code}: ${e.message}` : e.message, exitCode: 1 };
  }
  return { line: String(err), exitCode: 1 };
}

/**
 * The names of the gRPC status codes, by code (fixed by the gRPC specification; grpc-js's `status` enum has the
 * same): every command reports errors through this module, and `--version` or a usage mistake need not load grpc-js.
 */
export const GRPC_STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];
const UNAVAILABLE = GRPC_STATUS_NAMES.indexOf('UNAVAILABLE');

function isServiceError(err: unknown): err is grpc.ServiceError {
  return (
    err instanceof Error &&
    typeof (err as grpc.ServiceError).code === 'number' &&
    typeof (err as grpc.ServiceError).details === 'string'
  );
}

/** What to do about a status the daemon answered with, by its reason (docs/api.md, "Errors"). */
const REASON_HINTS: Record<string, string> = {
  REGISTRY_UNAVAILABLE:
    ' (the daemon runs but cannot reach its policy registry: check its database, UNWRAPD_PG_URL, and the daemon log; then retry)',
  AUDIT_UNAVAILABLE:
    " (the daemon runs but cannot write its audit trail: check the audit log's disk or database and the daemon log; then retry)",
};

/** A channel that never reached a daemon: where to start one, or how to point the CLI at it. */
function channelHint(err: grpc.ServiceError): string {
  if (err.code !== UNAVAILABLE || !/No connection|connect|ENOENT|ECONNREFUSED/i.test(err.details)) return '';
  return ' (no daemon answers at this address: start one with `npx unwrapd serve`, or point the CLI at the running one with --address, or --admin-address for policy/status/evict/events, as its banner prints)';
}

const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * A file the CLI (or `serve`) may not create or open: for a new file (a lock, a temporary name, a directory),
 * the directory it goes in, not the temporary name; then what to do. Data-directory files (the keystore, its
 * lock, the registry, the audit log, sockets) point at --data-dir.
 */
function permissionLine(e: NodeJS.ErrnoException, path: string, command: string): string {
  const name = basename(path).replace(/\.\d+\.[0-9a-f]+\.new$/, ''); // a lock's temporary name: the lock's
  const creating =
    ['mkdir', 'rename', 'unlink', 'rmdir', 'link', 'symlink'].includes(e.syscall ?? '') ||
    /\.new$|\.partial-\d+$|\.lock$/.test(basename(path));
  const why = e.code === 'EROFS' ? 'is on a read-only file system' : `is not writable by this user`;
  const isDataDir =
    command === 'serve' || command.startsWith('keys') || /^(keystore|policies|audit)\.|\.sock$/.test(name);
  const elsewhere = isDataDir
    ? 'choose another data directory with --data-dir DIR (UNWRAPD_DATA_DIR)'
    : 'choose another path';
  if (creating)
    return `cannot write in ${dirname(path)}: it ${why} (${e.code} on ${name}): make it writable (chown or chmod the directory), or ${elsewhere}`;
  return `cannot open ${path}: permission denied (${e.code}): fix its permissions (chown or chmod), or ${elsewhere}`;
}
