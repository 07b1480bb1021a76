/**
 * Azure Event Grid deliveries, parsed. Two schemas reach a webhook:
 *
 * - Event Grid schema: a JSON array of `{ id, topic, subject, eventType, eventTime, data, dataVersion,
 *   metadataVersion }`. A new subscription first gets `Microsoft.EventGrid.SubscriptionValidationEvent`
 *   with `data.validationCode`, to be echoed as `{ "validationResponse": code }`.
 * - CloudEvents 1.0 (structured JSON; one event, or a batch array): `{ specversion: "1.0", id, source,
 *   type, subject, time, data }`. Its handshake is an HTTP OPTIONS request (abuse protection), answered in
 *   the server.
 *
 * Key Vault events carry `data` with `Id`, `VaultName`, `ObjectType`, `ObjectName`, `Version`, `NBF`, `EXP`.
 * Microsoft's own examples spell these both in PascalCase and camelCase, so they are read case-insensitively.
 * Unknown fields are ignored; unknown event types are acknowledged and not acted on.
 */
export const SUBSCRIPTION_VALIDATION = 'Microsoft.EventGrid.SubscriptionValidationEvent';
export const KEY_VAULT_EVENTS = {
  accessPolicyChanged: 'Microsoft.KeyVault.VaultAccessPolicyChanged',
  keyNewVersionCreated: 'Microsoft.KeyVault.KeyNewVersionCreated',
  keyExpired: 'Microsoft.KeyVault.KeyExpired',
} as const;
const ACTED_ON = new Set<string>(Object.values(KEY_VAULT_EVENTS));

export type Schema = 'eventgrid' | 'cloudevents';

export interface KeyVaultEvent {
  schema: Schema;
  id: string;
  /** Event Grid `topic` or CloudEvents `source`: the vault's resource id. */
  source: string;
  type: string;
  /** Lower-case vault name. */
  vaultName: string;
  /** The key's name; absent for VaultAccessPolicyChanged (the whole vault is affected). */
  keyName?: string;
  version?: string;
}

export type ParsedDelivery =
  { kind: 'validation'; validationCode: string } | { kind: 'events'; events: KeyVaultEvent[]; ignored: number };

export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

const MAX_ID_LENGTH = 512;
const VAULT_NAME = /^[a-z0-9-]{1,127}$/;
const OBJECT_NAME = /^[A-Za-z0-9-]{1,127}$/;

/** Parses a request body (already bounded in size). Throws DeliveryError for anything malformed. */
export function parseDelivery(body: unknown): ParsedDelivery {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) throw new DeliveryError('no events in the delivery');
  const events: KeyVaultEvent[] = [];
  let ignored = 0;
  for (const [i, item] of items.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new DeliveryError(`event ${i} is not an object`);
    const e = item as Record<string, unknown>;
    const schema: Schema = typeof e['specversion'] === 'string' ? 'cloudevents' : 'eventgrid';
    if (schema === 'cloudevents' && e['specversion'] !== '1.0')
      throw new DeliveryError(`event ${i}: unsupported CloudEvents specversion`);
    const type = text(
      schema === 'cloudevents' ? e['type'] : e['eventType'],
      `event ${i}: ${schema === 'cloudevents' ? 'type' : 'eventType'}`,
      256,
    );
    const id = text(e['id'], `event ${i}: id`, MAX_ID_LENGTH);
    const source = optionalText(schema === 'cloudevents' ? e['source'] : e['topic'], 1024) ?? '';
    if (type === SUBSCRIPTION_VALIDATION) {
      if (items.length !== 1) throw new DeliveryError('a subscription validation event comes alone');
      const data = fields(e['data']);
      const code = text(data.get('validationcode'), 'validationCode', 512);
      return { kind: 'validation', validationCode: code };
    }
    if (!ACTED_ON.has(type)) {
      ignored++;
      continue;
    }
    const data = fields(e['data']);
    const vaultName = (optionalText(data.get('vaultname'), 127) ?? vaultFromResourceId(source) ?? '').toLowerCase();
    if (!VAULT_NAME.test(vaultName)) throw new DeliveryError(`event ${i}: no valid vault name`);
    const event: KeyVaultEvent = { schema, id, source, type, vaultName };
    if (type !== KEY_VAULT_EVENTS.accessPolicyChanged) {
      const objectType = optionalText(data.get('objecttype'), 64);
      if (objectType !== undefined && objectType.toLowerCase() !== 'key') {
        ignored++;
        continue;
      }
      const keyName = optionalText(data.get('objectname'), 127) ?? optionalText(e['subject'], 127);
      if (!keyName || !OBJECT_NAME.test(keyName)) throw new DeliveryError(`event ${i}: no valid key name`);
      event.keyName = keyName;
      const version = optionalText(data.get('version'), 64);
      if (version) event.version = version;
    }
    events.push(event);
  }
  return { kind: 'events', events, ignored };
}

/** The vault name in `/subscriptions/../providers/Microsoft.KeyVault/vaults/<name>`. */
export function vaultFromResourceId(resourceId: string): string | undefined {
  const m = /\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)/i.exec(resourceId);
  return m?.[1];
}

function fields(value: unknown): Map<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new DeliveryError('data is not an object');
  return new Map(Object.entries(value).map(([k, v]) => [k.toLowerCase(), v]));
}

function text(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0) throw new DeliveryError(`${what} is missing`);
  if (value.length > max) throw new DeliveryError(`${what} is longer than ${max} characters`);
  return value;
}

function optionalText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) return undefined;
  return value;
}
