import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../config/config.js';
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
    const name = grpc.status[err.code] ?? String(err.code);
    const hint =
      err.code === grpc.status.UNAVAILABLE && /connect|No connection|ENOENT|ECONNREFUSED/i.test(err.details)
        ? ' (is the daemon running? start it with `npm start`)'
        : '';
    // The reason of the status details (docs/api.md, "Errors"), when the status carried one.
    const reason = (err as { reason?: unknown }).reason;
    const label = typeof reason === 'string' ? `${name} (${reason})` : name;
    return { line: `${label}: ${err.details}${hint}`, exitCode: 1 };
  }
  if (err instanceof UnwrapdError) return { line: `${err.code}: ${err.message}`, exitCode: 1 };
  if (err instanceof ProviderError) return { line: `${err.kind} (${err.reason}): ${err.message}`, exitCode: 1 };
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { line: code ? `${code}: ${err.message}` : err.message, exitCode: 1 };
  }
  return { line: String(err), exitCode: 1 };
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return (
    err instanceof Error &&
    typeof (err as grpc.ServiceError).code === 'number' &&
    typeof (err as grpc.ServiceError).details === 'string'
  );
}
