import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as parsed from YAML. */
export type K8sObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string } };

export interface Rendered {
  objects: K8sObject[];
  /** Every file read on the way (kustomization files, resources, patches), absolute paths. */
  files: Set<string>;
}

/**
 * The subset of Kustomize that deploy/ uses, rendered exactly: `resources` (files and directories holding a
 * kustomization.yaml) and `patches` given by `path`, each a strategic-merge patch naming its target by kind
 * and name. Anything else in a kustomization (another field, an inline or JSON 6902 patch, a `$patch`
 * directive) is refused rather than silently ignored, so these tests never check something other than what
 * `kubectl apply -k` would apply.
 */
export function renderKustomization(dir: string, files = new Set<string>()): Rendered {
  const path = resolve(dir, 'kustomization.yaml');
  files.add(path);
  const k = parseOne(path) as Record<string, unknown>;
  for (const key of Object.keys(k)) {
    if (!['apiVersion', 'kind', 'resources', 'patches'].includes(key))
      throw new Error(`${path}: field "${key}" is not supported by this renderer`);
  }
  if (k.kind !== 'Kustomization') throw new Error(`${path}: kind is not Kustomization`);
  const objects: K8sObject[] = [];
  for (const entry of asArray(k.resources, path)) {
    if (typeof entry !== 'string') throw new Error(`${path}: a resource is not a path`);
    const target = resolve(dir, entry);
    if (statSync(target).isDirectory()) objects.push(...renderKustomization(target, files).objects);
    else {
      files.add(target);
      objects.push(...parseObjects(target));
    }
  }
  for (const patch of asArray(k.patches, path)) {
    const keys = Object.keys(patch as object);
    if (keys.length !== 1 || keys[0] !== 'path') throw new Error(`${path}: only patches given by "path" are supported`);
    const patchPath = resolve(dir, (patch as { path: string }).path);
    files.add(patchPath);
    const p = parseOne(patchPath) as K8sObject;
    const matches = objects.filter((o) => o.kind === p.kind && o.metadata.name === p.metadata?.name);
    if (matches.length !== 1)
      throw new Error(`${patchPath}: targets ${p.kind}/${p.metadata?.name}, found ${matches.length} of them`);
    const i = objects.indexOf(matches[0] as K8sObject);
    objects[i] = strategicMerge(objects[i], p, patchPath) as K8sObject;
  }
  return { objects, files };
}

/** Every document of a YAML file, each checked to be a Kubernetes object. */
export function parseObjects(path: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${path}: no documents`);
  return docs.map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${path} document ${i}: ${doc.errors[0]?.message}`);
    const o = doc.toJS() as K8sObject;
    if (typeof o?.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string')
      throw new Error(`${path} document ${i}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
    return o;
  });
}

function parseOne(path: string): unknown {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(docs) || docs.length !== 1) throw new Error(`${path}: expected exactly one document`);
  const doc = docs[0];
  if (!doc || doc.errors.length > 0) throw new Error(`${path}: ${doc?.errors[0]?.message}`);
  return doc.toJS();
}

function asArray(v: unknown, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`${path}: expected a list`);
  return v;
}

/** The merge keys of the lists deploy/ patches (Kubernetes' patchMergeKey); any other list is replaced. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
};

/** Kubernetes strategic merge: maps merge, lists with a merge key merge by it, null deletes, the rest replaces. */
export function strategicMerge(base: unknown, patch: unknown, where: string, key = ''): unknown {
  if (isMap(patch)) {
    if ('$patch' in patch || Object.keys(patch).some((k) => k.startsWith('$')))
      throw new Error(`${where}: $-directives are not supported by this renderer`);
    if (!isMap(base)) return patch;
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = strategicMerge(base[k], v, where, k);
    }
    return out;
  }
  const mergeKey = MERGE_KEYS[key];
  if (Array.isArray(patch) && Array.isArray(base) && mergeKey) {
    const out = [...base] as Record<string, unknown>[];
    for (const item of patch as Record<string, unknown>[]) {
      const i = out.findIndex((b) => isMap(b) && b[mergeKey] === item[mergeKey]);
      if (i < 0) out.push(item);
      else out[i] = strategicMerge(out[i], item, where) as Record<string, unknown>;
    }
    return out;
  }
  return patch;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The repository's root and its deploy/ directory. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEPLOY_DIR = join(REPO_ROOT, 'deploy');
