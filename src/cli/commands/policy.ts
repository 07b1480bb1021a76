import { UnwrapdClient } from '../../client/client.js';
import type { Policy__Output } from '../../generated/unwrapd/v1/Policy.js';
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
            availabilityKey: required(values['availability-key'], 'availability-key'),
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
          : res.policies.map((p) => `${p.tenant}/${p.id}\t${shortState(p.state)}\t${shortMode(p.mode)}\tv${p.activeVersion}\t${p.name}`).join('\n'),
      );
      return 0;
    }
    case 'show': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' } });
      const p = await withClient(values, (c, deadlineMs) => c.getPolicy(required(values.tenant, 'tenant'), required(values.id, 'id'), { deadlineMs }));
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'roll': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' }, role: { type: 'string' }, key: { type: 'string' }, recovery: { type: 'boolean' }, reason: { type: 'string' } });
      const p = await withClient(values, (c, deadlineMs) =>
        c.rollKey(
          { tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), role: required(values.role, 'role'), newKeyUri: values.key ?? '', recovery: values.recovery ?? false, reason: values.reason ?? '' },
          { deadlineMs: deadlineMs ?? 300_000 },
        ),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'refresh': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' }, recovery: { type: 'boolean' }, reason: { type: 'string' } });
      const p = await withClient(values, (c, deadlineMs) =>
        c.refresh({ tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), recovery: values.recovery ?? false, reason: values.reason ?? '' }, { deadlineMs: deadlineMs ?? 300_000 }),
      );
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'rotate': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' }, 'min-decrypt-version': { type: 'string' } });
      const min = values['min-decrypt-version'] === undefined ? 0 : Number(values['min-decrypt-version']);
      if (!Number.isInteger(min) || min < 0) throw new UsageError('--min-decrypt-version must be a positive integer');
      const p = await withClient(values, (c, deadlineMs) => c.rotateIntermediateKey({ tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), minDecryptVersion: min }, { deadlineMs: deadlineMs ?? 120_000 }));
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'revoke': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' }, reason: { type: 'string' } });
      const p = await withClient(values, (c, deadlineMs) => c.revoke({ tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), reason: values.reason ?? '' }, { deadlineMs }));
      print(values.json, p, () => describePolicy(p));
      return 0;
    }
    case 'purge': {
      const { values } = parse(rest, { ...CLIENT_OPTIONS, tenant: { type: 'string' }, id: { type: 'string' }, force: { type: 'boolean' }, reason: { type: 'string' }, yes: { type: 'boolean' } });
      if (!values.yes) throw new UsageError('purge is irreversible: nothing will decrypt this policy\'s data ever again, even if the customer keys come back. Add --yes to confirm');
      const r = await withClient(values, (c, deadlineMs) =>
        c.purge({ tenant: required(values.tenant, 'tenant'), id: required(values.id, 'id'), force: values.force ?? false, reason: values.reason ?? '' }, { deadlineMs: deadlineMs ?? 120_000 }),
      );
      print(values.json, r, () =>
        [`purged ${r.tenant}/${r.id} at ${r.purgedAt}${r.forced ? ' (forced)' : ''}`, `  destroyed ${r.copiesDestroyed} wrapped copies of ${r.versionsDestroyed} key version(s)`, `  audit record ${r.auditRecordHash}`].join('\n'),
      );
      return 0;
    }
    default:
      throw new UsageError('policy create|list|show|roll|refresh|rotate|revoke|purge');
  }
}

/** A client for both listeners: Crypto calls go to the data listener, Admin calls to the admin listener. */
export async function withClient<T>(
  values: { address?: string; 'admin-address'?: string; 'admin-socket'?: string; 'data-dir'?: string; 'deadline-ms'?: string },
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
    for (const c of v.copies) lines.push(`    ${c.role.padEnd(12)} ${c.algorithm.padEnd(14)} ${c.keyUri}  #${c.fingerprint}`);
  }
  return lines.join('\n');
}
