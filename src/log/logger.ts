import { redact, type LogFields } from './redact.js';

/**
 * JSON-lines logger on stderr: one object per line, `time`, `level`, `msg`, then the logger's own fields
 * (a request's `request_id`, `caller`, `trace_id`, `method`: src/log/request-context.ts), then the call's.
 * Every field goes through redact() (src/log/redact.ts): names that suggest secrets or content are redacted
 * whatever their value and at any depth, so a careless call site cannot leak key material, plaintext or
 * ciphertext into logs. docs/logging.md describes the format.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type { LogFields } from './redact.js';
export { describeError, errorField, redact } from './redact.js';

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
  const safeBase = redact(base);
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    if (LEVELS[lvl] < threshold) return;
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...safeBase, ...(fields ? redact(fields) : {}) })}\n`,
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

export const silentLogger: Logger = createLogger('silent');
