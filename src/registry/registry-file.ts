import { UnwrapdError } from '../errors.js';
import { errnoCode, MISSING_STAMP, readStamped } from '../storage/file-stamp.js';
import { policyKey, type PolicyRecord } from './policy.js';
import { freezeRecord, sortPolicies } from './registry-rules.js';
import { validatePolicyRecord } from './validate-policy.js';

/**
 * The file registry's document: `{ "format": "unwrapd-registry/1", "revision": n, "policies": [...] }`,
 * policies sorted by tenant then id, and the immutable in-memory snapshot of one version of it.
 */
export const REGISTRY_FORMAT = 'unwrapd-registry/1';

/** An immutable view of one version of the file. */
export interface Snapshot {
  revision: number;
  byKey: ReadonlyMap<string, PolicyRecord>;
  sorted: readonly PolicyRecord[];
  /** The stamp of the file this came from (src/storage/file-stamp.ts); MISSING_STAMP when it does not exist. */
  stamp: string;
}

export const EMPTY_SNAPSHOT: Snapshot = { revision: 0, byKey: new Map(), sorted: [], stamp: MISSING_STAMP };

/** Reads and validates the file; a missing file is an empty registry. */
export async function readSnapshot(path: string): Promise<Snapshot> {
  let read;
  try {
    read = await readStamped(path);
  } catch (err) {
    throw new UnwrapdError('internal', `cannot read registry file ${path} (${errnoCode(err) ?? 'unknown error'})`, {
      cause: err,
    });
  }
  if (!read) return EMPTY_SNAPSHOT;
  const doc = parseDocument(read.text, path);
  return buildSnapshot(doc.revision, doc.policies, read.stamp);
}

export function parseDocument(text: string, path: string): { revision: number; policies: PolicyRecord[] } {
  const corrupt = (what: string) => new UnwrapdError('internal', `registry file ${path} is corrupt: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes file content (wrapped keys): leave it out.
    throw corrupt(text.length === 0 ? 'it is empty' : 'it is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw corrupt('the document is not an object');
  const doc = value as Record<string, unknown>;
  if (doc['format'] !== REGISTRY_FORMAT) throw corrupt(`format is not ${REGISTRY_FORMAT}`);
  const revision = doc['revision'];
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw corrupt('revision is not a non-negative integer');
  }
  if (!Array.isArray(doc['policies'])) throw corrupt('policies is not an array');
  const policies = doc['policies'].map((p, i) =>
    freezeRecord(
      validatePolicyRecord(p, { code: 'internal', where: `registry file ${path} is corrupt: policies[${i}]` }),
    ),
  );
  const seen = new Set<string>();
  for (const p of policies) {
    const key = policyKey(p.tenant, p.id);
    if (seen.has(key)) throw corrupt(`policy ${key} appears twice`);
    seen.add(key);
  }
  return { revision, policies };
}

export function serializeDocument(revision: number, policies: Iterable<PolicyRecord>): string {
  return `${JSON.stringify({ format: REGISTRY_FORMAT, revision, policies: sortPolicies(policies) }, null, 2)}\n`;
}

export function buildSnapshot(revision: number, records: Iterable<PolicyRecord>, stamp: string): Snapshot {
  const sorted = sortPolicies(records);
  return { revision, byKey: new Map(sorted.map((p) => [policyKey(p.tenant, p.id), p])), sorted, stamp };
}
