import { isAbsolute, resolve } from 'node:path';
import { parseAuthorizationTable, type AuthorizationEntry } from '../auth/authorization-table.js';
import { parseRoles } from '../auth/caller.js';
import { isKeyBase } from '../providers/key-base.js';
import { maskConnectionString } from './connection-mask.js';

export { maskConnectionString };

/**
 * The value types of settings: how a raw value (flag, environment variable, config-file value) becomes the
 * typed value in `Config`, and how a typed value is shown again (docs, `config check`).
 */
export interface SettingType<T> {
  /** What the value is, for --help and docs/configuration.md: "integer 1024-67108864", "boolean". */
  readonly name: string;
  /** A raw flag or environment value to the typed value; throws InvalidValue. */
  parse(raw: string): T;
  /** A config-file (JSON) value to the typed value; default: a string, number or boolean, parsed as text. */
  fromFile?(value: unknown): T;
  /** The typed value as text (parse(format(v)) gives v back). */
  format(value: T): string;
  /** The value as `config check` may print it, for a secret setting (default: all of it hidden). */
  mask?(value: T): string;
}

/** A value a setting type refuses: `expected` completes "<setting> must be ...", `detail` replaces it. */
export class InvalidValue extends Error {
  override name = 'InvalidValue';
  constructor(
    readonly expected: string,
    readonly detail?: string,
  ) {
    super(detail ?? `must be ${expected}`);
  }
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const UNIX_PATH_MAX_BYTES = 107;

export const integer = (min: number, max: number): SettingType<number> => ({
  name: `integer ${min}-${max}`,
  parse(raw) {
    const n = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidValue(`an integer from ${min} to ${max}`);
    return n;
  },
  format: (v) => String(v),
});

export const boolean: SettingType<boolean> = {
  name: 'boolean',
  parse(raw) {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new InvalidValue('true or false');
  },
  format: (v) => String(v),
};

/** Any text; `''` means unset for the settings that are off by default. */
export const text: SettingType<string> = { name: 'string', parse: (raw) => raw, format: (v) => v };

/** A file-system path: a relative one is taken from the working directory. */
export const path: SettingType<string> = {
  name: 'path',
  parse(raw) {
    if (raw === '') throw new InvalidValue('a file-system path');
    return isAbsolute(raw) ? raw : resolve(raw);
  },
  format: (v) => v,
};

export function oneOf<const V extends string>(values: readonly V[]): SettingType<V> {
  const list = `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
  return {
    name: values.join(' | '),
    parse(raw) {
      if ((values as readonly string[]).includes(raw)) return raw as V;
      throw new InvalidValue(values.length > 2 ? `one of ${values.join(', ')}` : list);
    },
    format: (v) => v,
  };
}

/** A file mode in octal (`0660`); a config file may also give it as a JSON number (0o660 = 432). */
export const octalMode: SettingType<number> = {
  name: 'octal mode',
  parse(raw) {
    if (!/^0?[0-7]{3}$/.test(raw)) throw new InvalidValue('an octal mode such as 0660');
    return parseInt(raw, 8);
  },
  fromFile: (v) => octalMode.parse(typeof v === 'number' ? v.toString(8) : scalarText(v)),
  format: (v) => `0${v.toString(8).padStart(3, '0')}`,
};

/** A comma-separated list of roles (src/auth/caller.ts), kept as written. */
export const roleList: SettingType<string> = {
  name: 'roles (comma-separated)',
  parse(raw) {
    try {
      parseRoles(raw);
    } catch (err) {
      throw new InvalidValue('a comma-separated list of roles', (err as Error).message);
    }
    return raw;
  },
  format: (v) => v,
};

/** `unix:///absolute/path.sock` (at most 107 bytes) or `host:port`. */
export const listenAddress: SettingType<string> = {
  name: 'unix:///path | host:port',
  parse(raw) {
    if (raw.startsWith('unix://')) {
      const p = raw.slice('unix://'.length);
      if (!p.startsWith('/'))
        throw new InvalidValue('', `unix socket path must be absolute (unix:///path), got "${raw.slice(0, 200)}"`);
      if (Buffer.byteLength(p) > UNIX_PATH_MAX_BYTES)
        throw new InvalidValue('', `unix socket path is longer than ${UNIX_PATH_MAX_BYTES} bytes: ${p.slice(0, 200)}`);
      return raw;
    }
    if (!HOST_PORT.test(raw)) throw new InvalidValue('unix:///path/to.sock or host:port');
    checkPort(raw);
    return raw;
  },
  format: (v) => v,
};

/** The port of a `host:port` that matched HOST_PORT: 0 (the system picks one) to 65535. */
function checkPort(hostPort: string): void {
  const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  if (port > 65535)
    throw new InvalidValue('', `port ${port} is out of range: a TCP port is 0 to 65535 (0 picks a free one)`);
}

/** `host:port`, or empty (off). */
export const optionalHostPort: SettingType<string> = {
  name: 'host:port',
  parse(raw) {
    if (raw !== '' && !HOST_PORT.test(raw)) throw new InvalidValue('host:port');
    if (raw !== '') checkPort(raw);
    return raw;
  },
  format: (v) => v,
};

export const schemaName: SettingType<string> = {
  name: 'schema name',
  parse(raw) {
    if (!/^[a-z_][a-z0-9_]{0,47}$/.test(raw) || raw.startsWith('pg_'))
      throw new InvalidValue('1-48 characters of a-z 0-9 _ (not starting with a digit or pg_)');
    return raw;
  },
  format: (v) => v,
};

export const keyBase: SettingType<string> = {
  name: 'key base',
  parse(raw) {
    if (!isKeyBase(raw)) throw new InvalidValue('a key base (local:, pkcs11:token=<label>, https://<vault>/keys/)');
    return raw;
  },
  format: (v) => v,
};

/** A PostgreSQL connection string; `mask` hides every password in it, or all of it when it cannot be parsed. */
export const connectionString: SettingType<string> = {
  name: 'connection URL',
  parse: (raw) => raw,
  format: (v) => v,
  mask: maskConnectionString,
};

/** The authorization table (docs/security.md): a JSON array of entries, checked entry by entry. */
export const authorizationTable: SettingType<AuthorizationEntry[]> = {
  name: 'JSON array',
  parse(raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new InvalidValue('a JSON array of authorization entries');
    }
    return authorizationTable.fromFile!(parsed);
  },
  fromFile(value) {
    try {
      return parseAuthorizationTable(value, 'authorization');
    } catch (err) {
      throw new InvalidValue('a JSON array of authorization entries', (err as Error).message);
    }
  },
  format: (v) => JSON.stringify(v),
};

/** A config-file value of a scalar setting: a string, number or boolean, as text (anything else is refused). */
export function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new InvalidValue('', `must be a string, number or boolean in the config file, got ${jsonKind(value)}`);
}

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** `host:port`, a port alone (then loopback, 127.0.0.1), or empty (off). */
export const optionalListenPort: SettingType<string> = {
  name: 'host:port or port',
  parse(raw) {
    if (raw === '') return raw;
    const listen = /^\d{1,5}$/.test(raw) ? `127.0.0.1:${raw}` : raw;
    if (!HOST_PORT.test(listen) || Number(listen.slice(listen.lastIndexOf(':') + 1)) > 65535)
      throw new InvalidValue('host:port or a port (0-65535)');
    return listen;
  },
  format: (v) => v,
};

/** A number from 0 to 1. */
export const ratio: SettingType<number> = {
  name: 'number 0-1',
  parse(raw) {
    const n = raw.trim() === '' ? NaN : Number(raw);
    if (!(n >= 0 && n <= 1)) throw new InvalidValue('a number from 0 to 1');
    return n;
  },
  format: (v) => String(v),
};

/** 1 to 64 characters of A-Z a-z 0-9 . _ - (a name safe as a metric resource attribute). */
export const simpleName: SettingType<string> = {
  name: 'name',
  parse(raw) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(raw)) throw new InvalidValue('1-64 characters of A-Z a-z 0-9 . _ -');
    return raw;
  },
  format: (v) => v,
};
