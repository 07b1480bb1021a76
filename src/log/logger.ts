/**
 * JSON-lines logger on stderr. Fields whose names suggest secrets or content are redacted whatever their
 * value, so a careless call site cannot leak key material, plaintext or ciphertext into logs.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
/** Field names that end in one of these words are always redacted (key_uri, key_name and key_id are not). */
const SENSITIVE =
  /(^|_|-)(key|kek|secret|plaintext|ciphertext|envelope|token|password|private_?key|chunk|data|bytes)$/i;

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export function createLogger(
  level: LogLevel = 'info',
  base: LogFields = {},
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const threshold = LEVELS[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    if (LEVELS[lvl] < threshold) return;
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...redact(base), ...redact(fields ?? {}) })}\n`,
    );
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}

export function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [name, value] of Object.entries(fields)) {
    if (SENSITIVE.test(name)) out[name] = '[redacted]';
    else if (value instanceof Error) out[name] = describeError(value);
    else if (Buffer.isBuffer(value) || value instanceof Uint8Array) out[name] = `[${value.length} bytes]`;
    else out[name] = value;
  }
  return out;
}

/** An error's name, code and message; never its cause chain's data. */
export function describeError(err: Error): { name: string; code?: string; message: string } {
  const code = (err as { code?: unknown }).code;
  return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message };
}

/** An error of any type as a log field: an Error as its name, code and message; anything else as text. */
export function errorField(err: unknown): ReturnType<typeof describeError> | string {
  return err instanceof Error ? describeError(err) : String(err);
}

export const silentLogger: Logger = createLogger('silent');
