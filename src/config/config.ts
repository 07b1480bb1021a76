import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseRoles } from '../auth/caller.js';
import type { LogLevel } from '../log/logger.js';

/**
 * Daemon configuration. Each setting resolves in this order: command-line flag, environment variable,
 * config file (JSON, `--config` or UNWRAPD_CONFIG), default. docs/configuration.md lists every setting.
 */
export interface Config {
  /** `unix:///path/to.sock` or `host:port`. Default: unix://<dataDir>/unwrapd.sock */
  listen: string;
  dataDir: string;
  keystorePath: string;
  registryPath: string;
  /** Largest plaintext block accepted by Encrypt. */
  maxBlockBytes: number;
  cacheMaxEntries: number;
  cacheMaxAgeMs: number;
  providerTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxPoliciesPerTenant: number;
  /** File mode of the Unix socket: who in the pod may call. */
  socketMode: number;
  /** Create a local keystore and a demo policy on first run. */
  demo: boolean;
  /** Ask the second customer key when the first has not answered within this long. */
  hedgeDelayMs: number;
  /** Re-unwrap a cached key in the background when it has less than this long left. */
  refreshAheadMs: number;
  /** How often the background refresh looks for keys that are due. */
  refreshIntervalMs: number;
  /** Roles of callers on the socket until caller identities (mTLS) arrive: user, system, admin. */
  callerRoles: string;
  /** The append-only audit log (JSON lines, hash-chained). */
  auditLogPath: string;
  logLevel: LogLevel;
}

interface Setting<K extends keyof Config> {
  key: K;
  flag: string;
  env: string;
  parse: (raw: string) => Config[K];
}

const int = (name: string, min: number, max: number) => (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
};
const bool = (name: string) => (raw: string): boolean => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
};
const str = (raw: string): string => raw;
const level = (raw: string): LogLevel => {
  if (['debug', 'info', 'warn', 'error', 'silent'].includes(raw)) return raw as LogLevel;
  throw new ConfigError(`logLevel must be debug, info, warn, error or silent, got "${raw}"`);
};
const mode = (raw: string): number => {
  if (!/^0?[0-7]{3}$/.test(raw)) throw new ConfigError(`socketMode must be an octal mode such as 0660, got "${raw}"`);
  return parseInt(raw, 8);
};

const roles = (raw: string): string => {
  try {
    parseRoles(raw);
  } catch (err) {
    throw new ConfigError(`callerRoles: ${(err as Error).message}`);
  }
  return raw;
};

export const MAX_BLOCK_BYTES_LIMIT = 64 * 1024 * 1024;

const SETTINGS = [
  { key: 'listen', flag: 'listen', env: 'UNWRAPD_LISTEN', parse: str },
  { key: 'dataDir', flag: 'data-dir', env: 'UNWRAPD_DATA_DIR', parse: str },
  { key: 'keystorePath', flag: 'keystore', env: 'UNWRAPD_KEYSTORE', parse: str },
  { key: 'registryPath', flag: 'registry', env: 'UNWRAPD_REGISTRY', parse: str },
  { key: 'maxBlockBytes', flag: 'max-block-bytes', env: 'UNWRAPD_MAX_BLOCK_BYTES', parse: int('maxBlockBytes', 1024, MAX_BLOCK_BYTES_LIMIT) },
  { key: 'cacheMaxEntries', flag: 'cache-max-entries', env: 'UNWRAPD_CACHE_MAX_ENTRIES', parse: int('cacheMaxEntries', 1, 1_000_000) },
  { key: 'cacheMaxAgeMs', flag: 'cache-max-age-ms', env: 'UNWRAPD_CACHE_MAX_AGE_MS', parse: int('cacheMaxAgeMs', 1000, 24 * 3600 * 1000) },
  { key: 'providerTimeoutMs', flag: 'provider-timeout-ms', env: 'UNWRAPD_PROVIDER_TIMEOUT_MS', parse: int('providerTimeoutMs', 10, 120_000) },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout-ms', env: 'UNWRAPD_SHUTDOWN_TIMEOUT_MS', parse: int('shutdownTimeoutMs', 0, 300_000) },
  { key: 'maxPoliciesPerTenant', flag: 'max-policies-per-tenant', env: 'UNWRAPD_MAX_POLICIES_PER_TENANT', parse: int('maxPoliciesPerTenant', 1, 100_000) },
  { key: 'socketMode', flag: 'socket-mode', env: 'UNWRAPD_SOCKET_MODE', parse: mode },
  { key: 'demo', flag: 'demo', env: 'UNWRAPD_DEMO', parse: bool('demo') },
  { key: 'hedgeDelayMs', flag: 'hedge-delay-ms', env: 'UNWRAPD_HEDGE_DELAY_MS', parse: int('hedgeDelayMs', 0, 60_000) },
  { key: 'refreshAheadMs', flag: 'refresh-ahead-ms', env: 'UNWRAPD_REFRESH_AHEAD_MS', parse: int('refreshAheadMs', 0, 24 * 3600 * 1000) },
  { key: 'refreshIntervalMs', flag: 'refresh-interval-ms', env: 'UNWRAPD_REFRESH_INTERVAL_MS', parse: int('refreshIntervalMs', 100, 3600 * 1000) },
  { key: 'callerRoles', flag: 'caller-roles', env: 'UNWRAPD_CALLER_ROLES', parse: roles },
  { key: 'auditLogPath', flag: 'audit-log', env: 'UNWRAPD_AUDIT_LOG', parse: str },
  { key: 'logLevel', flag: 'log-level', env: 'UNWRAPD_LOG_LEVEL', parse: level },
] as const satisfies readonly Setting<keyof Config>[];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const CONFIG_FLAGS: readonly string[] = [...SETTINGS.map((s) => s.flag), 'config'];

export function loadConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): Config {
  const file = readConfigFile(flags.config ?? env.UNWRAPD_CONFIG);
  const partial: Partial<Record<keyof Config, unknown>> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags[s.flag];
    const fromEnv = env[s.env];
    const fromFile = file[s.key];
    let raw: string | undefined;
    if (fromFlag !== undefined) raw = fromFlag;
    else if (fromEnv !== undefined && fromEnv !== '') raw = fromEnv;
    else if (fromFile !== undefined) raw = s.key === 'socketMode' && typeof fromFile === 'number' ? fromFile.toString(8) : String(fromFile);
    if (raw !== undefined) partial[s.key] = (s.parse as (r: string) => unknown)(raw);
  }
  const dataDir = resolve((partial.dataDir as string | undefined) ?? '.unwrapd');
  const inData = (p: unknown, name: string) => (typeof p === 'string' ? (isAbsolute(p) ? p : resolve(p)) : join(dataDir, name));
  const config: Config = {
    dataDir,
    listen: (partial.listen as string | undefined) ?? `unix://${join(dataDir, 'unwrapd.sock')}`,
    keystorePath: inData(partial.keystorePath, 'keystore.json'),
    registryPath: inData(partial.registryPath, 'policies.json'),
    maxBlockBytes: (partial.maxBlockBytes as number | undefined) ?? 4 * 1024 * 1024,
    cacheMaxEntries: (partial.cacheMaxEntries as number | undefined) ?? 10_000,
    cacheMaxAgeMs: (partial.cacheMaxAgeMs as number | undefined) ?? 30 * 60 * 1000,
    providerTimeoutMs: (partial.providerTimeoutMs as number | undefined) ?? 10_000,
    shutdownTimeoutMs: (partial.shutdownTimeoutMs as number | undefined) ?? 10_000,
    maxPoliciesPerTenant: (partial.maxPoliciesPerTenant as number | undefined) ?? 50,
    socketMode: (partial.socketMode as number | undefined) ?? 0o660,
    demo: (partial.demo as boolean | undefined) ?? true,
    hedgeDelayMs: (partial.hedgeDelayMs as number | undefined) ?? 150,
    refreshAheadMs: (partial.refreshAheadMs as number | undefined) ?? 5 * 60 * 1000,
    refreshIntervalMs: (partial.refreshIntervalMs as number | undefined) ?? 30 * 1000,
    callerRoles: (partial.callerRoles as string | undefined) ?? 'user,admin',
    auditLogPath: inData(partial.auditLogPath, 'audit.log'),
    logLevel: (partial.logLevel as LogLevel | undefined) ?? 'info',
  };
  validateListen(config.listen);
  return config;
}

function readConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`config file ${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${path} must hold a JSON object`);
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const k of Object.keys(parsed)) if (!known.has(k)) throw new ConfigError(`config file ${path}: unknown setting "${k}"`);
  return parsed as Record<string, unknown>;
}

function validateListen(listen: string): void {
  if (listen.startsWith('unix://')) {
    const path = listen.slice('unix://'.length);
    if (!path.startsWith('/')) throw new ConfigError(`listen: unix socket path must be absolute (unix:///path), got "${listen}"`);
    if (Buffer.byteLength(path) > 107) throw new ConfigError(`listen: unix socket path is longer than 107 bytes: ${path}`);
    return;
  }
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(listen)) {
    throw new ConfigError(`listen must be unix:///path/to.sock or host:port, got "${listen}"`);
  }
}
