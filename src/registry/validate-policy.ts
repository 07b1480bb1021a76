import { UnwrapdError } from '../errors.js';
import {
  ID_PATTERN,
  KEY_ROLES,
  type KeyRole,
  type KeyVersionRecord,
  type PolicyMode,
  type PolicyRecord,
  type PolicyState,
  type WrappedCopyRecord,
} from './policy.js';

/**
 * Checks that a value is a well-formed PolicyRecord and returns a normalized deep copy holding only the
 * record's own fields. Used on every write (a caller's record: `invalid_argument`) and on every load (a
 * stored record: `internal`, since a bad record on disk is corruption, not a bad request).
 *
 * Messages name fields and rules, never values: a record carries wrapped key material, and an id that
 * failed validation is not safe to echo.
 */
export interface ValidatePolicyOptions {
  code?: 'invalid_argument' | 'internal';
  /** Names the record in messages, e.g. "registry file /var/lib/unwrapd/policies.json: policies[3]". */
  where?: string;
}

export const POLICY_MODES: readonly PolicyMode[] = ['mailbox', 'files'];
export const POLICY_STATES: readonly PolicyState[] = ['registering', 'active', 'rolling', 'revoked', 'purged'];

const MAX_NAME_LENGTH = 256;
const MAX_URI_LENGTH = 1024;
const MAX_TEXT_LENGTH = 1024;
const MAX_ALGORITHM_LENGTH = 64;
const MAX_VERSIONS = 10_000;
const MAX_COPIES_PER_VERSION = 64;
const MAX_CIPHERTEXT_LENGTH = 16_384;
const URI_PATTERN = /^[a-z][a-z0-9+.-]*:\S+$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Fields = Record<string, unknown>;

export function validatePolicyRecord(value: unknown, opts: ValidatePolicyOptions = {}): PolicyRecord {
  const check = new Checker(opts.code ?? 'invalid_argument', opts.where ?? 'policy');
  const obj = check.object(value, '');
  const tenant = check.id(obj, 'tenant');
  const id = check.id(obj, 'id');
  const named = check.named(`${tenant}/${id}`);
  const record: PolicyRecord = {
    tenant,
    id,
    name: named.string(obj, 'name', { max: MAX_NAME_LENGTH, allowEmpty: true }),
    mode: named.oneOf(obj, 'mode', POLICY_MODES),
    geo: named.geo(obj),
    state: named.oneOf(obj, 'state', POLICY_STATES),
    keys: named.keys(obj),
    activeVersion: named.integer(obj, 'activeVersion', 0),
    minDecryptVersion: named.integer(obj, 'minDecryptVersion', 0),
    versions: named.versions(obj),
    revision: named.integer(obj, 'revision', 0),
    createdAt: named.timestamp(obj, 'createdAt'),
    updatedAt: named.timestamp(obj, 'updatedAt'),
  };
  if (obj['stateReason'] !== undefined) {
    record.stateReason = named.string(obj, 'stateReason', { max: MAX_TEXT_LENGTH, allowEmpty: true });
  }
  if (obj['rollProgress'] !== undefined) record.rollProgress = named.rollProgress(obj);
  if (obj['purgedAt'] !== undefined) record.purgedAt = named.timestamp(obj, 'purgedAt');
  named.invariants(record);
  return record;
}

class Checker {
  constructor(
    private readonly code: 'invalid_argument' | 'internal',
    private readonly where: string,
  ) {}

  /** A checker whose messages also name the (already validated, so log-safe) policy. */
  named(policy: string): Checker {
    return new Checker(this.code, `${this.where} (${policy})`);
  }

  fail(path: string, rule: string): never {
    throw new UnwrapdError(this.code, `${this.where}: ${path ? `${path} ` : ''}${rule}`);
  }

  object(value: unknown, path: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'must be an object');
    return value as Fields;
  }

  array(value: unknown, path: string, max: number): unknown[] {
    if (!Array.isArray(value)) this.fail(path, 'must be an array');
    if (value.length > max) this.fail(path, `must have at most ${max} entries`);
    return value;
  }

  string(obj: Fields, key: string, rule: { max: number; allowEmpty?: boolean; path?: string }): string {
    const path = rule.path ?? key;
    const value = obj[key];
    if (typeof value !== 'string') this.fail(path, 'must be a string');
    if (!rule.allowEmpty && value.length === 0) this.fail(path, 'must not be empty');
    if (value.length > rule.max) this.fail(path, `must be at most ${rule.max} characters`);
    return value;
  }

  id(obj: Fields, key: string): string {
    const value = this.string(obj, key, { max: 64 });
    if (!ID_PATTERN.test(value)) {
      this.fail(key, 'must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit');
    }
    return value;
  }

  geo(obj: Fields): string {
    const value = this.string(obj, 'geo', { max: 64, allowEmpty: true });
    if (value !== '' && !ID_PATTERN.test(value))
      this.fail('geo', 'must be empty or 1-64 characters of A-Z a-z 0-9 . _ -');
    return value;
  }

  oneOf<T extends string>(obj: Fields, key: string, allowed: readonly T[], path = key): T {
    const value = obj[key];
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(path, `must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  integer(obj: Fields, key: string, min: number, path = key): number {
    const value = obj[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      this.fail(path, `must be an integer >= ${min}`);
    }
    return value;
  }

  timestamp(obj: Fields, key: string, path = key): string {
    const value = this.string(obj, key, { max: 64, path });
    if (Number.isNaN(Date.parse(value))) this.fail(path, 'must be an RFC 3339 timestamp');
    return value;
  }

  uri(obj: Fields, key: string, path: string): string {
    const value = this.string(obj, key, { max: MAX_URI_LENGTH, path });
    if (!URI_PATTERN.test(value)) this.fail(path, 'must be a key URI such as local:name/1');
    return value;
  }

  keys(obj: Fields): Record<KeyRole, string> {
    const keys = this.object(obj['keys'], 'keys');
    const result = {} as Record<KeyRole, string>;
    for (const role of KEY_ROLES) result[role] = this.uri(keys, role, `keys.${role}`);
    return result;
  }

  versions(obj: Fields): KeyVersionRecord[] {
    const list = this.array(obj['versions'], 'versions', MAX_VERSIONS);
    const versions = list.map((entry, i) => this.version(entry, `versions[${i}]`));
    const seen = new Set<number>();
    versions.forEach((v, i) => {
      if (seen.has(v.version)) this.fail(`versions[${i}].version`, 'is a duplicate');
      seen.add(v.version);
    });
    return versions;
  }

  version(value: unknown, path: string): KeyVersionRecord {
    const obj = this.object(value, path);
    const copies = this.array(obj['copies'], `${path}.copies`, MAX_COPIES_PER_VERSION);
    return {
      version: this.integer(obj, 'version', 1, `${path}.version`),
      createdAt: this.timestamp(obj, 'createdAt', `${path}.createdAt`),
      copies: copies.map((copy, i) => this.copy(copy, `${path}.copies[${i}]`)),
    };
  }

  copy(value: unknown, path: string): WrappedCopyRecord {
    const obj = this.object(value, path);
    const role = this.oneOf(obj, 'role', KEY_ROLES, `${path}.role`);
    const keyUri = this.uri(obj, 'keyUri', `${path}.keyUri`);
    const algorithm = this.string(obj, 'algorithm', { max: MAX_ALGORITHM_LENGTH, path: `${path}.algorithm` });
    const ciphertext = this.string(obj, 'ciphertext', { max: MAX_CIPHERTEXT_LENGTH, path: `${path}.ciphertext` });
    if (!BASE64_PATTERN.test(ciphertext)) this.fail(`${path}.ciphertext`, 'must be base64');
    return { role, keyUri, algorithm, ciphertext };
  }

  rollProgress(obj: Fields): { done: number; total: number } {
    const progress = this.object(obj['rollProgress'], 'rollProgress');
    const done = this.integer(progress, 'done', 0, 'rollProgress.done');
    const total = this.integer(progress, 'total', 0, 'rollProgress.total');
    if (done > total) this.fail('rollProgress.done', 'must not exceed rollProgress.total');
    return { done, total };
  }

  /** Rules across fields. A purged policy has had its wrapped copies destroyed, so most are waived. */
  invariants(record: PolicyRecord): void {
    if (record.mode === 'files' && record.geo === '') this.fail('geo', 'is required in files mode');
    if (record.minDecryptVersion > record.activeVersion)
      this.fail('minDecryptVersion', 'must not exceed activeVersion');
    if (record.state === 'purged') return;
    const needsActive = record.state !== 'registering' || record.versions.length > 0;
    if (needsActive && !record.versions.some((v) => v.version === record.activeVersion)) {
      this.fail('activeVersion', 'must name one of versions');
    }
    record.versions.forEach((v, i) => {
      for (const role of KEY_ROLES) {
        if (!v.copies.some((c) => c.role === role)) this.fail(`versions[${i}].copies`, `has no ${role} copy`);
      }
    });
  }
}
