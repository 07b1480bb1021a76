import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UnwrapdError, isUnwrapdError } from '../errors.js';
import { sweepTempFiles, writeFileAtomic } from '../storage/atomic-file.js';
import { currentStamp, errnoCode } from '../storage/file-stamp.js';
import { watchFile, type FileWatcher } from '../storage/file-watcher.js';
import { withFileLock } from '../storage/file-lock.js';
import { policyKey, type PolicyRecord } from './policy.js';
import type { PolicyRegistry, RegistryLimits, WriteOptions } from './policy-registry.js';
import { buildSnapshot, readSnapshot, serializeDocument, type Snapshot } from './registry-file.js';
import { checkCreate, checkUpdate, createCandidate, registryLimits, updateCandidate } from './registry-rules.js';

export { REGISTRY_FORMAT } from './registry-file.js';
export { DEFAULT_REGISTRY_LIMITS } from './registry-rules.js';

/**
 * The embedded policy registry: one JSON document, replaced atomically (temp file, fsync, rename, fsync
 * directory) under an inter-process lock. Every write re-reads the file under the lock, so several
 * processes (the daemon, the CLI) can share it without losing writes or squeezing past a limit. Reads are
 * served from an in-memory snapshot whose records are frozen (copy before changing one); with `watch` on,
 * the snapshot follows writes made by other processes.
 */
export interface FileRegistryOptions {
  path: string;
  limits?: Partial<RegistryLimits>;
  /** Follow other processes' writes (fs.watch on the directory plus a periodic stat). Default true. */
  watch?: boolean;
  /** How often the fallback stat runs when watching. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Give up a write after waiting this long for the lock. Default 10 s. */
  lockTimeoutMs?: number;
  /** Background failures (a reload that cannot parse, a listener that threw). Default: console.error. */
  onError?: (err: UnwrapdError) => void;
  /** Called after each check of the file for another process's write (whether or not it changed, or loaded). */
  onReloadChecked?: () => void;
}

const RELOAD_DEBOUNCE_MS = 20;

export function createFileRegistry(opts: FileRegistryOptions): PolicyRegistry {
  return new FileRegistry(opts);
}

class FileRegistry implements PolicyRegistry {
  readonly description: string;
  readonly #path: string;
  readonly #limits: RegistryLimits;
  readonly #opts: FileRegistryOptions;
  readonly #listeners = new Set<(record: PolicyRecord) => void>();
  #snapshot: Snapshot | undefined;
  #closed = false;
  /** Serializes this instance's writes and reloads, so a slow reload never overwrites a newer write. */
  #tail: Promise<void> = Promise.resolve();
  #watcher: FileWatcher | undefined;
  #reloadQueued = false;
  #failedStamp = '';
  #tempFilesSwept = false;

  constructor(opts: FileRegistryOptions) {
    this.#path = resolve(opts.path);
    this.#limits = registryLimits(opts.limits);
    this.#opts = opts;
    this.description = `file:${this.#path}`;
  }

  async open(): Promise<void> {
    if (this.#snapshot || this.#closed)
      throw new UnwrapdError('failed_precondition', `${this.description} was already opened`);
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw new UnwrapdError(
        'internal',
        `cannot create the registry directory ${dirname(this.#path)} (${errnoCode(err) ?? 'unknown error'})`,
        {
          cause: err,
        },
      );
    });
    this.#snapshot = await readSnapshot(this.#path);
    if (this.#opts.watch ?? true) this.#startWatching();
  }

  get(tenant: string, id: string): PolicyRecord | undefined {
    return this.#current().byKey.get(policyKey(tenant, id));
  }

  list(tenant?: string): PolicyRecord[] {
    const sorted = this.#current().sorted;
    return tenant === undefined ? [...sorted] : sorted.filter((p) => p.tenant === tenant);
  }

  async create(record: PolicyRecord, opts?: WriteOptions): Promise<PolicyRecord> {
    const candidate = createCandidate(record);
    return this.#write((policies) => {
      checkCreate(tenantPolicies(policies, candidate.tenant), candidate, this.#limits);
      policies.set(policyKey(candidate.tenant, candidate.id), candidate);
      return candidate;
    }, opts);
  }

  async update(record: PolicyRecord, expectedRevision: number, opts?: WriteOptions): Promise<PolicyRecord> {
    const candidate = updateCandidate(record, expectedRevision);
    return this.#write((policies) => {
      checkUpdate(tenantPolicies(policies, candidate.tenant), candidate, expectedRevision);
      policies.set(policyKey(candidate.tenant, candidate.id), candidate);
      return candidate;
    }, opts);
  }

  onChange(listener: (record: PolicyRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#tail;
  }

  #current(): Snapshot {
    if (!this.#snapshot) throw new UnwrapdError('failed_precondition', `${this.description} is not open`);
    return this.#snapshot;
  }

  /**
   * One write: under the lock, re-read the file (another process may have written), adopt it, apply the
   * change to a copy, write the whole document, then publish the new snapshot and notify; then, still under
   * the lock, the write's hook (its audit records: appended after the change is durable, before the next write).
   */
  async #write(
    mutate: (policies: Map<string, PolicyRecord>) => PolicyRecord,
    opts?: WriteOptions,
  ): Promise<PolicyRecord> {
    this.#current();
    if (this.#closed)
      throw new UnwrapdError('unavailable', `${this.description} is closed`, { reason: 'REGISTRY_UNAVAILABLE' });
    return this.#serial(() =>
      withFileLock(
        `${this.#path}.lock`,
        async () => {
          this.#adopt(await readSnapshot(this.#path));
          await this.#sweepTempFilesOnce();
          const policies = new Map(this.#current().byKey);
          const result = mutate(policies);
          const revision = this.#current().revision + 1;
          await this.#writeDocument(serializeDocument(revision, policies.values()));
          // A stamp we cannot get only costs one extra (harmless) reload later.
          const stamp = await currentStamp(this.#path).catch(() => '');
          this.#adopt(buildSnapshot(revision, policies.values(), stamp));
          await opts?.within?.({ backend: 'file' });
          return result;
        },
        { timeoutMs: this.#opts.lockTimeoutMs ?? 10_000 },
      ),
    );
  }

  async #writeDocument(text: string): Promise<void> {
    try {
      await writeFileAtomic(this.#path, text, 0o600);
    } catch (err) {
      throw new UnwrapdError(
        'internal',
        `cannot write registry file ${this.#path} (${errnoCode(err) ?? 'unknown error'})`,
        { cause: err },
      );
    }
  }

  /** Replaces the snapshot and tells listeners about every record whose revision changed. */
  #adopt(next: Snapshot): void {
    const previous = this.#current();
    if (next.stamp === previous.stamp && next.revision === previous.revision) return;
    this.#snapshot = next;
    for (const record of next.sorted) {
      if (previous.byKey.get(policyKey(record.tenant, record.id))?.revision !== record.revision) this.#notify(record);
    }
  }

  #notify(record: PolicyRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch (err) {
        this.#report(new UnwrapdError('internal', `${this.description}: an onChange listener threw`, { cause: err }));
      }
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  #startWatching(): void {
    this.#watcher = watchFile(this.#path, {
      pollIntervalMs: this.#opts.pollIntervalMs ?? 1000,
      debounceMs: RELOAD_DEBOUNCE_MS,
      onWatchError: (err, what) =>
        this.#report(new UnwrapdError('internal', `${this.description}: ${what}; polling only`, { cause: err })),
      onChange: () => {
        // One reload queued at a time, behind this instance's writes.
        if (this.#reloadQueued || this.#closed) return;
        this.#reloadQueued = true;
        void this.#serial(async () => {
          this.#reloadQueued = false;
          await this.#reload();
          this.#opts.onReloadChecked?.();
        });
      },
    });
  }

  /** Re-reads the file if it changed. A file that fails to load leaves the old snapshot in place. */
  async #reload(): Promise<void> {
    if (this.#closed) return;
    try {
      const stamp = await currentStamp(this.#path);
      if (stamp === this.#current().stamp || stamp === this.#failedStamp) return;
      const next = await readSnapshot(this.#path);
      this.#failedStamp = '';
      if (!this.#closed) this.#adopt(next);
    } catch (err) {
      const stamp = await currentStamp(this.#path).catch(() => 'unreadable');
      if (stamp === this.#failedStamp) return;
      this.#failedStamp = stamp;
      this.#report(asReloadError(this.description, err));
    }
  }

  /** Removes temp files that a writer killed mid-write left behind, once per instance (under the lock). */
  async #sweepTempFilesOnce(): Promise<void> {
    if (this.#tempFilesSwept) return;
    this.#tempFilesSwept = true;
    await sweepTempFiles(this.#path);
  }

  #report(err: UnwrapdError): void {
    const onError = this.#opts.onError ?? ((e: UnwrapdError) => process.stderr.write(`unwrapd: ${e.message}\n`));
    try {
      onError(err);
    } catch {
      // A broken error handler must not break the registry.
    }
  }
}

/** Every stored policy of one tenant (what the registry rules judge a write against). */
function tenantPolicies(policies: ReadonlyMap<string, PolicyRecord>, tenant: string): PolicyRecord[] {
  return [...policies.values()].filter((p) => p.tenant === tenant);
}

function asReloadError(description: string, err: unknown): UnwrapdError {
  const suffix = 'keeping the policies loaded before';
  if (isUnwrapdError(err)) return new UnwrapdError('internal', `${err.message}; ${suffix}`);
  return new UnwrapdError(
    'internal',
    `${description}: reload failed (${errnoCode(err) ?? 'unknown error'}); ${suffix}`,
  );
}
