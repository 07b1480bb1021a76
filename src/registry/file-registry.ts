import { watch, type FSWatcher, type Stats } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UnwrapdError, isUnwrapdError } from '../errors.js';
import { writeFileAtomic } from '../storage/atomic-file.js';
import { withFileLock } from '../storage/file-lock.js';
import { policyKey, type PolicyRecord } from './policy.js';
import { RevisionConflictError, type PolicyRegistry, type RegistryLimits } from './policy-registry.js';
import { validatePolicyRecord } from './validate-policy.js';

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
}

export const REGISTRY_FORMAT = 'unwrapd-registry/1';
export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = { maxPoliciesPerTenant: 50 };

const RELOAD_DEBOUNCE_MS = 20;

export function createFileRegistry(opts: FileRegistryOptions): PolicyRegistry {
  return new FileRegistry(opts);
}

/** An immutable view of one version of the file. */
interface Snapshot {
  revision: number;
  byKey: ReadonlyMap<string, PolicyRecord>;
  sorted: readonly PolicyRecord[];
  /** Identity of the file this came from (inode, size, times); '' when the file does not exist. */
  stamp: string;
}

const EMPTY_SNAPSHOT: Snapshot = { revision: 0, byKey: new Map(), sorted: [], stamp: '' };

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
  #watcher: FSWatcher | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #reloadQueued = false;
  #failedStamp = '';
  #tempFilesSwept = false;

  constructor(opts: FileRegistryOptions) {
    this.#path = resolve(opts.path);
    this.#limits = { ...DEFAULT_REGISTRY_LIMITS, ...opts.limits };
    this.#opts = opts;
    this.description = `file:${this.#path}`;
    if (!Number.isSafeInteger(this.#limits.maxPoliciesPerTenant) || this.#limits.maxPoliciesPerTenant < 1) {
      throw new UnwrapdError('invalid_argument', 'maxPoliciesPerTenant must be a positive integer');
    }
  }

  async open(): Promise<void> {
    if (this.#snapshot || this.#closed) throw new UnwrapdError('failed_precondition', `${this.description} was already opened`);
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw new UnwrapdError('internal', `cannot create the registry directory ${dirname(this.#path)} (${errnoCode(err)})`, {
        cause: err,
      });
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

  async create(record: PolicyRecord): Promise<PolicyRecord> {
    const candidate = freezeRecord(validatePolicyRecord({ ...record, revision: 1 }));
    return this.#write((policies) => {
      const key = policyKey(candidate.tenant, candidate.id);
      if (policies.has(key)) {
        throw new UnwrapdError('already_exists', `policy ${key} already exists`);
      }
      checkTenantLimit(policies, candidate.tenant, this.#limits.maxPoliciesPerTenant);
      checkFilesModeGeo(policies, candidate);
      policies.set(key, candidate);
      return candidate;
    });
  }

  async update(record: PolicyRecord, expectedRevision: number): Promise<PolicyRecord> {
    if (!Number.isSafeInteger(expectedRevision) || expectedRevision < 1) {
      throw new UnwrapdError('invalid_argument', 'expectedRevision must be a positive integer');
    }
    const candidate = freezeRecord(validatePolicyRecord({ ...record, revision: expectedRevision + 1 }));
    return this.#write((policies) => {
      const key = policyKey(candidate.tenant, candidate.id);
      const stored = policies.get(key);
      if (!stored) throw new UnwrapdError('not_found', `no policy ${key}`);
      if (stored.revision !== expectedRevision) {
        throw new RevisionConflictError(key, expectedRevision, stored.revision);
      }
      checkFilesModeGeo(policies, candidate);
      policies.set(key, candidate);
      return candidate;
    });
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
    clearInterval(this.#pollTimer);
    clearTimeout(this.#debounceTimer);
    await this.#tail;
  }

  #current(): Snapshot {
    if (!this.#snapshot) throw new UnwrapdError('failed_precondition', `${this.description} is not open`);
    return this.#snapshot;
  }

  /**
   * One write: under the lock, re-read the file (another process may have written), adopt it, apply the
   * change to a copy, write the whole document, then publish the new snapshot and notify.
   */
  async #write(mutate: (policies: Map<string, PolicyRecord>) => PolicyRecord): Promise<PolicyRecord> {
    this.#current();
    if (this.#closed) throw new UnwrapdError('unavailable', `${this.description} is closed`);
    return this.#serial(() =>
      withFileLock(
        `${this.#path}.lock`,
        async () => {
          this.#adopt(await readSnapshot(this.#path));
          await this.#sweepTempFiles();
          const policies = new Map(this.#current().byKey);
          const result = mutate(policies);
          const revision = this.#current().revision + 1;
          await this.#writeDocument(serializeDocument(revision, sortPolicies(policies.values())));
          // A stamp we cannot get only costs one extra (harmless) reload later.
          const stamp = await currentStamp(this.#path).catch(() => '');
          this.#adopt(buildSnapshot(revision, policies.values(), stamp));
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
      throw new UnwrapdError('internal', `cannot write registry file ${this.#path} (${errnoCode(err)})`, { cause: err });
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
    const dir = dirname(this.#path);
    const name = basename(this.#path);
    try {
      this.#watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) this.#scheduleReload();
      });
      this.#watcher.on('error', (err) => {
        this.#report(new UnwrapdError('internal', `${this.description}: watch failed; polling only`, { cause: err }));
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#report(new UnwrapdError('internal', `${this.description}: cannot watch; polling only`, { cause: err }));
    }
    this.#pollTimer = setInterval(() => this.#scheduleReload(), this.#opts.pollIntervalMs ?? 1000);
    this.#pollTimer.unref();
  }

  /** Coalesces bursts of watch events into one reload. */
  #scheduleReload(): void {
    if (this.#closed || this.#debounceTimer) return;
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      if (this.#reloadQueued || this.#closed) return;
      this.#reloadQueued = true;
      void this.#serial(async () => {
        this.#reloadQueued = false;
        await this.#reload();
      });
    }, RELOAD_DEBOUNCE_MS);
    this.#debounceTimer.unref();
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

  /** Removes temp files that a writer killed mid-write left behind. Safe only under the lock: no one else writes. */
  async #sweepTempFiles(): Promise<void> {
    if (this.#tempFilesSwept) return;
    this.#tempFilesSwept = true;
    const dir = dirname(this.#path);
    const pattern = tempFilePattern(basename(this.#path));
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => pattern.test(n)).map((n) => unlink(join(dir, n)).catch(() => {})));
  }

  #report(err: UnwrapdError): void {
    const onError = this.#opts.onError ?? ((e: UnwrapdError) => console.error(`unwrapd: ${e.message}`));
    try {
      onError(err);
    } catch {
      // A broken error handler must not break the registry.
    }
  }
}

function checkTenantLimit(policies: ReadonlyMap<string, PolicyRecord>, tenant: string, max: number): void {
  let count = 0;
  for (const p of policies.values()) if (p.tenant === tenant) count++;
  if (count >= max) {
    throw new UnwrapdError('failed_precondition', `tenant ${tenant} already has ${count} policies (limit ${max})`);
  }
}

/** `files` mode (the SharePoint rule): at most one policy per tenant per geo that is not purged. */
function checkFilesModeGeo(policies: ReadonlyMap<string, PolicyRecord>, candidate: PolicyRecord): void {
  if (candidate.mode !== 'files' || candidate.state === 'purged') return;
  for (const p of policies.values()) {
    const sameSlot = p.tenant === candidate.tenant && p.mode === 'files' && p.geo === candidate.geo;
    if (sameSlot && p.id !== candidate.id && p.state !== 'purged') {
      throw new UnwrapdError(
        'failed_precondition',
        `tenant ${candidate.tenant} already has files-mode policy ${p.id} for geo ${candidate.geo}`,
      );
    }
  }
}

/** Reads and validates the file; a missing file is an empty registry. */
async function readSnapshot(path: string): Promise<Snapshot> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_SNAPSHOT;
    throw new UnwrapdError('internal', `cannot read registry file ${path} (${errnoCode(err)})`, { cause: err });
  }
  try {
    // stat and read through one descriptor, so the stamp belongs to the bytes read.
    const stamp = stampOf(await fh.stat());
    const text = await fh.readFile('utf8');
    const doc = parseDocument(text, path);
    return buildSnapshot(doc.revision, doc.policies, stamp);
  } finally {
    await fh.close();
  }
}

function parseDocument(text: string, path: string): { revision: number; policies: PolicyRecord[] } {
  const corrupt = (what: string) => new UnwrapdError('internal', `registry file ${path} is corrupt: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes file content (wrapped keys): leave it out.
    throw corrupt(text.length === 0 ? 'it is empty' : 'it is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('the document is not an object');
  const doc = value as Record<string, unknown>;
  if (doc['format'] !== REGISTRY_FORMAT) throw corrupt(`format is not ${REGISTRY_FORMAT}`);
  const revision = doc['revision'];
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw corrupt('revision is not a non-negative integer');
  }
  if (!Array.isArray(doc['policies'])) throw corrupt('policies is not an array');
  const policies = doc['policies'].map((p, i) =>
    freezeRecord(validatePolicyRecord(p, { code: 'internal', where: `registry file ${path} is corrupt: policies[${i}]` })),
  );
  const seen = new Set<string>();
  for (const p of policies) {
    const key = policyKey(p.tenant, p.id);
    if (seen.has(key)) throw corrupt(`policy ${key} appears twice`);
    seen.add(key);
  }
  return { revision, policies };
}

function serializeDocument(revision: number, policies: readonly PolicyRecord[]): string {
  return `${JSON.stringify({ format: REGISTRY_FORMAT, revision, policies }, null, 2)}\n`;
}

function buildSnapshot(revision: number, records: Iterable<PolicyRecord>, stamp: string): Snapshot {
  const sorted = sortPolicies(records);
  return { revision, byKey: new Map(sorted.map((p) => [policyKey(p.tenant, p.id), p])), sorted, stamp };
}

/** Sorted by tenant then id, by code unit (ids are ASCII), so every backend agrees. */
function sortPolicies(records: Iterable<PolicyRecord>): PolicyRecord[] {
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...records].sort((a, b) => compare(a.tenant, b.tenant) || compare(a.id, b.id));
}

/** The file's stamp now; '' when it does not exist (as in an empty snapshot). */
async function currentStamp(path: string): Promise<string> {
  try {
    return stampOf(await stat(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function stampOf(info: Stats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
}

/** Temp files of writeFileAtomic for this file: `.<name>.<pid>.<12 hex>.tmp`. */
function tempFilePattern(name: string): RegExp {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${escaped}\\.\\d+\\.[0-9a-f]{12}\\.tmp$`);
}

function freezeRecord(record: PolicyRecord): PolicyRecord {
  for (const version of record.versions) {
    for (const copy of version.copies) Object.freeze(copy);
    Object.freeze(version.copies);
    Object.freeze(version);
  }
  Object.freeze(record.versions);
  Object.freeze(record.keys);
  if (record.rollProgress) Object.freeze(record.rollProgress);
  return Object.freeze(record);
}

function asReloadError(description: string, err: unknown): UnwrapdError {
  const suffix = 'keeping the policies loaded before';
  if (isUnwrapdError(err)) return new UnwrapdError('internal', `${err.message}; ${suffix}`);
  return new UnwrapdError('internal', `${description}: reload failed (${errnoCode(err)}); ${suffix}`);
}

function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'unknown error';
}
