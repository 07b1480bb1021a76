import type { AuditHead } from '../audit/audit-log.js';
import type { KeyCache } from '../cache/key-cache.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';
import type { RevocationSource } from '../revocation/revocation-source.js';
import type { KeyUnwrapper } from './key-unwrapper.js';

export interface DaemonStatus {
  version: string;
  startedAt: string;
  listen: string;
  serving: boolean;
  cache: ReturnType<KeyCache['stats']>;
  cacheBypassed: boolean;
  cachedKeys: Array<{
    tenant: string;
    policyId: string;
    version: number;
    keyId: string;
    sourceRole: string;
    loadedAt: string;
    expiresAt: string;
  }>;
  providerUnwraps: number;
  availabilityKeyUses: number;
  refreshFailures: number;
  audit: AuditHead;
  registry: string;
  providers: readonly string[];
  feeds: Array<{ source: string; state: string; lastSequence: number; lastEventAt?: string }>;
}

export interface StatusDeps {
  version: string;
  listen: string;
  cache: KeyCache;
  unwrapper: KeyUnwrapper;
  registry: PolicyRegistry;
  providerSchemes: readonly string[];
  feeds: RevocationSource[];
  auditHead: () => AuditHead;
  refreshFailures: () => number;
}

/** Builds GetStatus from in-memory state only: it never calls a root-key provider. */
export class StatusReporter {
  serving = false;
  readonly #startedAt = new Date().toISOString();

  constructor(private readonly deps: StatusDeps) {}

  /** Feeds register here as they start (the fleet registry's change feed, probes). */
  addFeed(feed: RevocationSource): void {
    this.deps.feeds.push(feed);
  }

  status(): DaemonStatus {
    const d = this.deps;
    return {
      version: d.version,
      startedAt: this.#startedAt,
      listen: d.listen,
      serving: this.serving,
      cache: d.cache.stats(),
      cacheBypassed: d.cache.bypassed,
      cachedKeys: d.cache.entries().map((e) => ({
        tenant: e.tenant,
        policyId: e.policyId,
        version: e.version,
        keyId: e.keyId,
        sourceRole: e.sourceRole,
        loadedAt: new Date(e.loadedAt).toISOString(),
        expiresAt: new Date(e.expiresAt).toISOString(),
      })),
      providerUnwraps: d.unwrapper.providerUnwraps,
      availabilityKeyUses: d.unwrapper.availabilityKeyUses,
      refreshFailures: d.refreshFailures(),
      audit: d.auditHead(),
      registry: d.registry.description,
      providers: d.providerSchemes,
      feeds: d.feeds.map((f) => ({ source: f.name, ...f.state() })),
    };
  }
}
