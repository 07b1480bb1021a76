import { readFileSync } from 'node:fs';
import { parseAuthorizationTable } from '../auth/authorization-table.js';
import { ConfigError } from './config-error.js';
import type { Config } from './settings.js';

/**
 * The rules between settings (each setting's own value is checked by its type when it is parsed). Loads
 * the authorization table from `authorizationFile`. Messages name the settings and never echo a secret.
 */
export function validateConfig(c: Config, opts: { authorizationGiven: boolean }): void {
  validateFleet(c);
  validateTrust(c, opts.authorizationGiven);
  // A daemon must read the envelopes it writes.
  if (c.streamMaxSegmentBytes < c.streamSegmentBytes)
    throw new ConfigError(
      'streamMaxSegmentBytes must not be below streamSegmentBytes (the daemon must read the streams it writes)',
      'streamMaxSegmentBytes',
    );
  // A connection's window caps what all its streams have in flight: a smaller one wastes a larger stream window.
  if (c.http2ConnectionWindowBytes < c.http2StreamWindowBytes)
    throw new ConfigError(
      'http2ConnectionWindowBytes must not be below http2StreamWindowBytes (the connection window caps every stream of it)',
      'http2ConnectionWindowBytes',
    );
}

/** The fleet settings hang together: a backend that needs a URL has one; a webhook has a secret. */
function validateFleet(c: Config): void {
  if (c.registryBackend === 'postgres' && !c.pgUrl)
    throw new ConfigError('registryBackend postgres needs pgUrl (UNWRAPD_PG_URL)', 'pgUrl');
  if (c.feedReconnectMaxMs < c.feedReconnectMinMs)
    throw new ConfigError('feedReconnectMaxMs must not be below feedReconnectMinMs', 'feedReconnectMaxMs');
  if (c.feedPollMs >= c.feedGraceMs)
    throw new ConfigError(
      'feedPollMs must be below feedGraceMs (the poll is the heartbeat the grace period is measured against)',
      'feedPollMs',
    );
  if (c.fleetLeaseMs - c.fleetFenceMarginMs < 2 * c.fleetRenewMs)
    throw new ConfigError(
      'fleetLeaseMs minus fleetFenceMarginMs must leave room for two renewals (at least 2 x fleetRenewMs)',
      'fleetLeaseMs',
    );
  if (c.eventGridListen && c.eventGridSecret.length < 16)
    throw new ConfigError(
      'eventGridListen needs eventGridSecret (UNWRAPD_EVENT_GRID_SECRET) of at least 16 characters',
      'eventGridSecret',
    );
}

/** The admin listener, the socket group, the authorization table (from the config file or a file, not both). */
function validateTrust(c: Config, authorizationGiven: boolean): void {
  if (c.adminListen === c.listen)
    throw new ConfigError(
      'adminListen must differ from listen: the Admin service never shares the data listener',
      'adminListen',
    );
  if (c.socketGroup) resolveGroup(c.socketGroup);
  if (!c.authorizationFile) return;
  if (authorizationGiven)
    throw new ConfigError(
      'set the authorization table either in the config file ("authorization") or in authorizationFile, not both',
      'authorization',
    );
  loadAuthorizationFile(c);
}

/** Sets `authorization` from the table in `authorizationFile`. */
export function loadAuthorizationFile(c: Config): void {
  c.authorization = readAuthorizationFile(c.authorizationFile);
}

function readAuthorizationFile(path: string): Config['authorization'] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read authorizationFile ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      'authorizationFile',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`authorizationFile ${path} is not valid JSON`, 'authorizationFile');
  }
  try {
    return parseAuthorizationTable(parsed, `authorizationFile ${path}`);
  } catch (err) {
    throw new ConfigError((err as Error).message, 'authorizationFile');
  }
}

/** A group name (looked up in /etc/group) or a numeric gid. */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    // No group file: only numeric gids.
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ConfigError(
    `socketGroup: no group named "${group}" (give a name from ${groupFile} or a numeric gid)`,
    'socketGroup',
  );
}
