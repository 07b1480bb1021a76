import { policyKey, type PolicyRecord } from '../policy.js';
import { sortPolicies } from '../registry-rules.js';

/**
 * The PostgreSQL registry's policies in memory (reads never touch the database): loaded at open, kept
 * current by this instance's writes and the change feed, and the onChange listeners told of every record
 * that changed. Records are frozen (src/registry/registry-rules.ts).
 */
export class MemoryRecords {
  readonly #records = new Map<string, PolicyRecord>();
  #sorted: PolicyRecord[] | undefined;
  readonly #listeners = new Set<(record: PolicyRecord) => void>();
  readonly #onListenerError: (err: unknown) => void;

  constructor(onListenerError: (err: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  get(tenant: string, id: string): PolicyRecord | undefined {
    return this.#records.get(policyKey(tenant, id));
  }

  /** Every record (of one tenant, when given), sorted by tenant then id. */
  list(tenant?: string): PolicyRecord[] {
    this.#sorted ??= sortPolicies(this.#records.values());
    return tenant === undefined ? [...this.#sorted] : this.#sorted.filter((p) => p.tenant === tenant);
  }

  /** The snapshot loaded at open (no one listens yet). */
  load(records: Iterable<PolicyRecord>): void {
    for (const record of records) this.#records.set(policyKey(record.tenant, record.id), record);
    this.#sorted = undefined;
  }

  /** Takes a record when it is newer than the one held; true when it did (the caller notifies). */
  adopt(record: PolicyRecord): boolean {
    const key = policyKey(record.tenant, record.id);
    const current = this.#records.get(key);
    if (current && current.revision >= record.revision) return false;
    this.#records.set(key, record);
    this.#sorted = undefined;
    return true;
  }

  /**
   * A full reload: every record is taken as stored (even at a lower revision than the one held: the
   * database is the truth), a record no longer stored is dropped, and every record that differs is notified.
   */
  replaceAll(records: Iterable<PolicyRecord>): void {
    const changed: PolicyRecord[] = [];
    const stored = new Set<string>();
    for (const record of records) {
      const key = policyKey(record.tenant, record.id);
      stored.add(key);
      const current = this.#records.get(key);
      if (current && JSON.stringify(current) === JSON.stringify(record)) continue;
      this.#records.set(key, record);
      changed.push(record);
    }
    // A policy whose creation was lost is gone (policies are never deleted otherwise).
    for (const key of [...this.#records.keys()]) if (!stored.has(key)) this.#records.delete(key);
    this.#sorted = undefined;
    for (const record of changed) this.notify(record);
  }

  onChange(listener: (record: PolicyRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notify(record: PolicyRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch (err) {
        this.#onListenerError(err);
      }
    }
  }
}
