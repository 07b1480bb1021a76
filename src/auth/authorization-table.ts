import { ID_PATTERN } from '../ids.js';
import { ROLES, type Caller, type Role } from './caller.js';

/**
 * The authorization table: caller identity -> roles, tenants and (optionally) policies. docs/security.md
 * describes the format. An identity is exact (`unix:/run/unwrapd/unwrapd.sock`, `tls:spiffe://...`,
 * `mesh:...`), a prefix ending in `*` (`tls:spiffe://prod/ns/mail/*`), or a listener name: `data` or `admin`
 * (every caller on that listener the table names no more precisely). A caller gets the first of: its exact
 * entry, the longest matching prefix entry, its listener's entry, its listener's default roles on every tenant.
 */
export interface AuthorizationEntry {
  identity: string;
  roles: Role[];
  /** Tenant names, or `*` for every tenant. */
  tenants: string[];
  /** Optional: `tenant/policy`, `tenant/*` or `*`. Absent: every policy of the granted tenants. */
  policies?: string[];
}

export type ListenerName = 'data' | 'admin';
export const LISTENER_NAMES: readonly ListenerName[] = ['data', 'admin'];

const IDENTITY = /^(data|admin|(unix|tcp|tls|mesh):[\x21-\x7e]{1,1024})$/;

/** Validates a parsed JSON value as a table; every message names the entry (by index) and the field. */
export function parseAuthorizationTable(value: unknown, source: string): AuthorizationEntry[] {
  if (!Array.isArray(value)) throw new Error(`${source}: the authorization table must be a JSON array of entries`);
  const seen = new Set<string>();
  return value.map((raw, i) => {
    const where = `${source}: entry ${i}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where} must be an object`);
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e))
      if (!['identity', 'roles', 'tenants', 'policies'].includes(k)) throw new Error(`${where}: unknown field "${k}"`);
    const identity = e.identity;
    if (typeof identity !== 'string' || !IDENTITY.test(identity)) {
      throw new Error(
        `${where}: identity must be "data", "admin", or unix:<path>, tcp:<peer>, tls:<id>, mesh:<id> (a trailing * matches a prefix)`,
      );
    }
    if (identity.indexOf('*') !== -1 && identity.indexOf('*') !== identity.length - 1)
      throw new Error(`${where}: identity may hold * only at its end`);
    if (seen.has(identity)) throw new Error(`${where}: identity "${identity}" is listed twice`);
    seen.add(identity);
    const roles = stringList(e.roles, `${where}: roles`);
    for (const r of roles)
      if (!ROLES.includes(r as Role)) throw new Error(`${where}: unknown role "${r}" (roles: ${ROLES.join(', ')})`);
    const tenants = stringList(e.tenants, `${where}: tenants`);
    for (const t of tenants)
      if (t !== '*' && !ID_PATTERN.test(t))
        throw new Error(`${where}: tenant "${t}" is not a valid tenant name (or *)`);
    const entry: AuthorizationEntry = { identity, roles: roles as Role[], tenants };
    if (e.policies !== undefined) {
      const policies = stringList(e.policies, `${where}: policies`);
      for (const p of policies) {
        const [tenant, policy, more] = p.split('/');
        const ok =
          p === '*' ||
          (more === undefined &&
            tenant !== undefined &&
            policy !== undefined &&
            ID_PATTERN.test(tenant) &&
            (policy === '*' || ID_PATTERN.test(policy)));
        if (!ok) throw new Error(`${where}: policy "${p}" must be tenant/policy, tenant/* or *`);
      }
      entry.policies = policies;
    }
    return entry;
  });
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new Error(`${what} must be an array of strings`);
  return value as string[];
}

export interface ListenerDefaults {
  data: Role[];
  admin: Role[];
}

/**
 * The table compiled for lookups: exact identities in a Map (O(1)), prefixes longest first, then the
 * listener entries. Callers are built once per identity and listener and reused, so a call costs one or two
 * Map lookups.
 */
export class AuthorizationTable {
  readonly #exact = new Map<string, Grant>();
  readonly #prefixes: Array<{ prefix: string; grant: Grant }> = [];
  readonly #listeners: Record<ListenerName, Grant>;
  readonly #resolved: Record<ListenerName, Map<string, Caller>> = { data: new Map(), admin: new Map() };
  static readonly MAX_CACHED = 10_000;

  constructor(entries: readonly AuthorizationEntry[], defaults: ListenerDefaults) {
    this.#listeners = {
      data: { roles: new Set(defaults.data), tenants: '*' },
      admin: { roles: new Set(defaults.admin), tenants: '*' },
    };
    for (const e of entries) {
      const grant = compile(e);
      if (e.identity === 'data' || e.identity === 'admin') this.#listeners[e.identity] = grant;
      else if (e.identity.endsWith('*')) this.#prefixes.push({ prefix: e.identity.slice(0, -1), grant });
      else this.#exact.set(e.identity, grant);
    }
    this.#prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The caller for `identity` arriving on `listener`. */
  caller(identity: string, listener: ListenerName): Caller {
    const cache = this.#resolved[listener];
    let c = cache.get(identity);
    if (c === undefined) {
      const grant =
        this.#exact.get(identity) ??
        this.#prefixes.find((p) => identity.startsWith(p.prefix))?.grant ??
        this.#listeners[listener];
      c = { id: identity, ...grant };
      if (cache.size >= AuthorizationTable.MAX_CACHED) cache.clear();
      cache.set(identity, c);
    }
    return c;
  }
}

type Grant = Omit<Caller, 'id'>;

function compile(e: AuthorizationEntry): Grant {
  const grant: Grant = { roles: new Set(e.roles), tenants: e.tenants.includes('*') ? '*' : new Set(e.tenants) };
  if (e.policies && !e.policies.includes('*')) grant.policies = new Set(e.policies);
  return grant;
}
