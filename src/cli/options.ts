import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { closestName } from '../config/closest-name.js';
import { UsageError } from './cli-error.js';
import { cliIo } from './cli-io.js';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Options every client command takes. */
export const CLIENT_OPTIONS = {
  address: { type: 'string' },
  'admin-address': { type: 'string' },
  'admin-socket': { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  'deadline-ms': { type: 'string' },
} as const satisfies OptionSpec;

/**
 * Parses a command's options. An unknown flag is a usage error naming the closest known one; positional
 * arguments are refused beyond `positionals` (0 unless the command takes some), so a file name given without
 * --in is never silently ignored.
 */
export function parse<T extends OptionSpec>(args: string[], options: T, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseErrorLine(err as Error & { code?: string }, options));
  }
  const extra = parsed.positionals.slice(positionals);
  if (extra.length > 0) {
    const hint = 'in' in options && positionals === 0 ? ` (to read a file, give --in ${extra[0]})` : '';
    throw new UsageError(`unexpected argument "${extra[0]}"${hint}`);
  }
  return parsed;
}

function parseErrorLine(err: Error & { code?: string }, options: OptionSpec): string {
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /Unknown option '([^']+)'/.exec(err.message)?.[1] ?? '';
    const near = flag ? closestName(flag.replace(/^-+/, ''), Object.keys(options)) : undefined;
    return `unknown option ${flag}${near ? `: did you mean --${near}?` : ''}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /Option '(?:-\w, )?(--[\w-]+)/.exec(err.message)?.[1];
    if (flag) return /does not take/.test(err.message) ? `${flag} takes no value` : `${flag} needs a value`;
  }
  return err.message.split('\n')[0]!;
}

/** Where the daemon is: --address, then UNWRAPD_ADDRESS, then UNWRAPD_LISTEN, then the default socket under the data dir. */
export function daemonAddress(values: { address?: string; 'data-dir'?: string }, env = cliIo().env): string {
  if (values.address) return values.address;
  if (env.UNWRAPD_ADDRESS) return env.UNWRAPD_ADDRESS;
  if (env.UNWRAPD_LISTEN) return env.UNWRAPD_LISTEN;
  const dataDir = resolve(values['data-dir'] ?? env.UNWRAPD_DATA_DIR ?? '.unwrapd');
  return `unix://${join(dataDir, 'unwrapd.sock')}`;
}

/**
 * Where the daemon's admin listener is (operator commands: policy, status, evict, events): --admin-address
 * (or --admin-socket PATH), then UNWRAPD_ADMIN_ADDRESS, then UNWRAPD_ADMIN_LISTEN, then `admin.sock` beside a
 * Unix socket given with --address, then `admin.sock` in the data dir (the daemon's default).
 */
export function adminAddress(
  values: { address?: string; 'admin-address'?: string; 'admin-socket'?: string; 'data-dir'?: string },
  env = cliIo().env,
): string {
  if (values['admin-address']) return values['admin-address'];
  if (values['admin-socket']) return `unix://${resolve(values['admin-socket'])}`;
  if (env.UNWRAPD_ADMIN_ADDRESS) return env.UNWRAPD_ADMIN_ADDRESS;
  if (env.UNWRAPD_ADMIN_LISTEN) return env.UNWRAPD_ADMIN_LISTEN;
  if (values.address?.startsWith('unix://'))
    return `unix://${join(dirname(values.address.slice('unix://'.length)), 'admin.sock')}`;
  const dataDir = resolve(values['data-dir'] ?? env.UNWRAPD_DATA_DIR ?? '.unwrapd');
  return `unix://${join(dataDir, 'admin.sock')}`;
}

export function deadline(values: { 'deadline-ms'?: string }): number | undefined {
  const raw = values['deadline-ms'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError('--deadline-ms must be a positive integer');
  return n;
}

export function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`--${flag} is required`);
  return value;
}

/** Parses repeated `--context key=value` options into a map. */
export function contextOption(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--context takes key=value, got "${item}"`);
    const key = item.slice(0, eq);
    if (key in out) throw new UsageError(`--context key "${key}" given twice`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}
