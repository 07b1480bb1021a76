import { UnwrapdClient } from '../../client/client.js';
import type { Policy__Output } from '../../generated/unwrapd/v1/Policy.js';
import { unpinned as keyWithoutVersion } from '../../providers/key-uri.js';
import { UsageError } from '../cli-error.js';
import { adminAddress, CLIENT_OPTIONS, daemonAddress, deadline, parse, required } from '../options.js';
import { print } from '../output.js';

const CREATE_OPTIONS = {
  ...CLIENT_OPTIONS,
  tenant: { type: 'string' },
  id: { type: 'string' },
  name: { type: 'string' },
  mode: { type: 'string' },
  geo: { type: 'string' },
  'key-a': { type: 'string' },
  'key-b': { type: 'string' },
  'availability-key': { type: 'string' },
} as const;

/** `unwrapd policy create|list|show`. */
export async function policy(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const { values } = parse(rest, CREATE_OPTIONS);
      const mode = values.mode ?? 'mailbox';
      if (mode !== 'mailbox' && mode !== 'files') throw new UsageError('--mode must be mailbox or files');
      const p = await withClient(values, (c, deadlineMs) =>
        c.createPolicy(
          {
            tenant: required(values.tenant, 'tenant'),
            id: required(values.id, 'id'),
            name: values.name ?? '',
            mode: mode === 'files' ? 'POLICY_MODE_FILES' : 'POLICY_MODE_MAILBOX',
            geo: values.geo ?? '',
            customerKeyA: required(values['key-a'], 'key-a'),
            customerKeyB: required(values['key-b'], 'key-b'),
            availabilityKey: values['availability-key'] ?? '', // empty: the daemon creates the policy's own
          },
          { deadlineMs: deadlineMs ?? 60_000 },
        ),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'list': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' } });
      const res = await withClient(values, (c, deadlineMs) => c.listPolicies(values.tenant ?? '', { deadlineMs }));
      print(values.json, res.policies, () =>
        res.policies.length === 0
          ? 'no policies'
          : [
              'POLICY\tSTATE\tMODE\tVERSION\tNAME',
              ...res.policies.map(
                (p) =>
                  `${p.tenant}/${p.id}\t${shortState(p.state)}\t${shortMode(p.mode)}\tv${p.activeVersion}\t${p.name}`,
              ),
            ].join('\n'),
      );
      return 0;
    }
    case 'show': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' } });
      const p = await withClient(values, (c, deadlineMs) =>
        c.getPolicy(required(values.tenant, 'tenant'), required(values.id, 'id'), { deadlineMs }),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'roll': {
      const { values } = parse(rest, {
        ...CLIENT_OPTIONS,
        tenant: { type: 'string' },
        id: { type: 'string' },
        role: { type: 'string' },
        key: { type: 'string' },
        recovery: { type: 'boolean' },
        reason: { type: 'string' },
      });
      const p = await withClient(values, (c, deadlineMs) =>
        c.rollKey(
          {
            tenant: required(values.tenant, 'tenant'),
            id: required(values.id, 'id'),
            role: required(values.role, 'role'),
            newKeyUri: values.key ?? '',
            recovery: values.recovery ?? false,
            reason: values.reason ?? '',
          },
          { deadlineMs: deadlineMs ?? 300_000 },
        ),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'refresh': {
      const { values } = parse(rest, {
        ...CLIENT_OPTIONS,
        tenant: { type: 'string' },
        id: { type: 'string' },
        recovery: { type: 'boolean' },
        reason: { type: 'string' },
      });
      const p = await withClient(values, (c, deadlineMs) =>
        c.refresh(
          {
            tenant: required(values.tenant, 'tenant'),
            id: required(values.id, 'id'),
            recovery: values.recovery ?? false,
            reason: values.reason ?? '',
          },
          { deadlineMs: deadlineMs ?? 300_000 },
        ),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'rotate': {
      const { values } = parse(rest, {
        ...CLIENT_OPTIONS,
        tenant: { type: 'string' },
        id: { type: 'string' },
        'min-decrypt-version': { type: 'string' },
        yes: { type: 'boolean' },
      });
      const min = values['min-decrypt-version'] === undefined ? 0 : Number(values['min-decrypt-version']);
      if (!Number.isInteger(min) || min < 0) throw new UsageError('--min-decrypt-version must be a positive integer');
      if (min > 0 && !values.yes)
        throw new UsageError(
          `rotate --min-decrypt-version ${min} is irreversible: content under key versions below ${min} can never be decrypted again. Add --yes to confirm`,
        );
      const p = await withClient(values, (c, deadlineMs) =>
        c.rotateIntermediateKey(
          { tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), minDecryptVersion: min },
          { deadlineMs: deadlineMs ?? 120_000 },
        ),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'revoke': {
      const { values } = parse(rest, {
        ...CLIENT_OPTIONS,
        tenant: { type: 'string' },
        id: { type: 'string' },
        reason: { type: 'string' },
      });
      const p = await withClient(values, (c, deadlineMs) =>
        c.revoke(
          { tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), reason: values.reason ?? '' },
          { deadlineMs },
        ),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'purge': {
      const { values } = parse(rest, {
        ...CLIENT_OPTIONS,
        tenant: { type: 'string' },
        id: { type: 'string' },
        force: { type: 'boolean' },
        reason: { type: 'string' },
        yes: { type: 'boolean' },
      });
      if (!values.yes)
        throw new UsageError(
          "purge is irreversible: nothing will decrypt this policy's data ever again, even if the customer keys come back. Add --yes to confirm",
        );
      const r = await withClient(values, (c, deadlineMs) =>
        c.purge(
          {
            tenant: required(values.tenant, 'tenant'),
            id: required(values.id, 'id'),
            force: values.force ?? false,
            reason: values.reason ?? '',
          },
          { deadlineMs: deadlineMs ?? 120_000 },
        ),
      );
      print(values.json, r, () =>
        [
          `purged ${r.tenant}/${r.id} at ${r.purgedAt}${r.forced ? ' (forced)' : ''}`,
          `  destroyed ${r.copiesDestroyed} wrapped copies of ${r.versionsDestroyed} key version(s)`,
          ...r.keyDestructions.map(
            (k) => `  availability key ${k.keyUri} (${k.provider}): ${k.action}, at ${k.destroyedAt}`,
          ),
          `  audit record ${r.auditRecordHash}`,
        ].join('\n'),
      );
      return 0;
    }
    case 'migrate-availability':
      return migrateAvailability(rest);
    default:
      throw new UsageError('policy create|list|show|roll|refresh|rotate|revoke|purge|migrate-availability');
  }
}

/**
 * `policy migrate-availability`: every selected policy whose availability key another (unpurged) policy
 * also uses gets a key of its own (RollKey with new_availability_key: a new key, every version rewrapped).
 * All holders of a shared key are migrated, so the old key ends unused; the command then names it, since
 * copies in backups from before the migration stay readable with it until it is destroyed.
 */
async function migrateAvailability(rest: string[]): Promise<number> {
  const { values } = parse(rest, {
    ...CLIENT_OPTIONS,
    tenant: { type: 'string' },
    id: { type: 'string' },
    base: { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  if (values.id && !values.tenant) throw new UsageError('--id needs --tenant');
  return withClient(values, async (c, deadlineMs) => {
    const all = (await c.listPolicies('', { deadlineMs })).policies;
    const shared = sharedAvailabilityKeys(all);
    const selected = all.filter(
      (p) => (!values.tenant || p.tenant === values.tenant) && (!values.id || p.id === values.id),
    );
    const todo = selected.filter((p) => availabilityKeysOfProto(p).some((k) => shared.has(k)));
    const lines: string[] = [];
    const migrated: Array<{ tenant: string; id: string; from: string; to: string }> = [];
    for (const p of selected)
      if (!todo.includes(p) && shortState(p.state) !== 'purged')
        lines.push(`${p.tenant}/${p.id}: has its own availability key ${p.availabilityKey?.uri ?? ''}`);
    for (const p of todo) {
      const from = p.availabilityKey?.uri ?? '';
      if (shortState(p.state) !== 'active' && shortState(p.state) !== 'rolling') {
        lines.push(
          `${p.tenant}/${p.id}: ${shortState(p.state)}, not migrated (it keeps ${from}; purging it destroys that key once no active policy uses it)`,
        );
        continue;
      }
      if (values['dry-run']) {
        lines.push(`${p.tenant}/${p.id}: would get its own availability key (now shares ${from})`);
        continue;
      }
      const after = await c.rollKey(
        { tenant: p.tenant, id: p.id, role: 'availability', newKeyUri: values.base ?? '', newAvailabilityKey: true },
        { deadlineMs: deadlineMs ?? 300_000 },
      );
      migrated.push({ tenant: p.tenant, id: p.id, from, to: after.availabilityKey?.uri ?? '' });
      lines.push(`${p.tenant}/${p.id}: availability key ${from} -> ${after.availabilityKey?.uri ?? ''}`);
    }
    const stillUsed = new Set(
      (await c.listPolicies('', { deadlineMs })).policies
        .filter((p) => shortState(p.state) !== 'purged')
        .flatMap(availabilityKeysOfProto),
    );
    const unused = [...new Set(migrated.map((m) => keyWithoutVersion(m.from)))].filter((k) => !stillUsed.has(k));
    for (const k of unused)
      lines.push(
        `no policy uses ${k} any more: destroy it (local: unwrapd keys delete <name> --yes; Key Vault: delete and purge; PKCS#11: destroy the object), since backups from before this migration hold copies under it`,
      );
    print(values.json, { migrated, unusedKeys: unused }, () => (lines.length > 0 ? lines.join('\n') : 'no policies'));
    return 0;
  });
}

/** Keys (without versions) the policy's availability copies are under. */
function availabilityKeysOfProto(p: Policy__Output): string[] {
  const keys = new Set<string>();
  if (p.availabilityKey?.uri) keys.add(keyWithoutVersion(p.availabilityKey.uri));
  for (const v of p.versions)
    for (const c of v.copies) if (c.role === 'availability') keys.add(keyWithoutVersion(c.keyUri));
  return [...keys];
}

/** Availability keys that two or more unpurged policies use. */
function sharedAvailabilityKeys(policies: readonly Policy__Output[]): Set<string> {
  const count = new Map<string, number>();
  for (const p of policies)
    if (shortState(p.state) !== 'purged')
      for (const k of availabilityKeysOfProto(p)) count.set(k, (count.get(k) ?? 0) + 1);
  return new Set([...count].filter(([, n]) => n > 1).map(([k]) => k));
}

/** A client for both listeners: Crypto calls go to the data listener, Admin calls to the admin listener. */
export async function withClient<T>(
  values: {
    address?: string;
    'admin-address'?: string;
    'admin-socket'?: string;
    'data-dir'?: string;
    'deadline-ms'?: string;
  },
  fn: (c: UnwrapdClient, deadlineMs: number | undefined) => Promise<T>,
): Promise<T> {
  const client = new UnwrapdClient(daemonAddress(values), { adminAddress: adminAddress(values) });
  try {
    return await fn(client, deadline(values));
  } finally {
    client.close();
  }
}

const shortState = (s: string) => s.replace('POLICY_STATE_', '').toLowerCase();
const shortMode = (m: string) => m.replace('POLICY_MODE_', '').toLowerCase();

function describePolicy(p: Policy__Output): string {
  const lines = [
    `policy ${p.tenant}/${p.id} (${p.name})`,
    `  state:              ${shortState(p.state)}${p.stateReason ? ` (${p.stateReason})` : ''}`,
    `  mode:               ${shortMode(p.mode)}${p.geo ? `, geo ${p.geo}` : ''}`,
    ...p.customerKeys.map((k) => `  ${k.role}:${' '.repeat(Math.max(1, 19 - k.role.length))}${k.uri}`),
    `  availability:       ${p.availabilityKey?.uri ?? ''}`,
    `  active version:     ${p.activeVersion} (minimum for decryption: ${p.minDecryptVersion})`,
    `  revision:           ${p.revision}`,
    ...(p.rollProgress ? [`  roll progress:      ${p.rollProgress.done}/${p.rollProgress.total}`] : []),
    `  created:            ${p.createdAt}`,
  ];
  for (const v of p.versions) {
    lines.push(`  version ${v.version} (${v.createdAt}):`);
    for (const c of v.copies)
      lines.push(`    ${c.role.padEnd(12)} ${c.algorithm.padEnd(14)} ${c.keyUri}  #${c.fingerprint}`);
  }
  return lines.join('\n');
}
