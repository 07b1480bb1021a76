import { UnwrapdClient } from '../../client/client.js';
import type { Policy__Output } from '../../generated/unwrapd/v1/Policy.js';
import { UsageError } from '../cli-error.js';
import { CLIENT_OPTIONS, daemonAddress, deadline, parse, required } from '../options.js';
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
    default:
      throw new UsageError('policy create|list|show');
  }
}

export async function withClient<T>(values: { address?: string; 'data-dir'?: string; 'deadline-ms'?: string }, fn: (c: UnwrapdClient, deadlineMs: number | undefined) => Promise<T>): Promise<T> {
  const client = new UnwrapdClient(daemonAddress(values));
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
    `  created:            ${p.createdAt}`,
  ];
  for (const v of p.versions) {
    lines.push(`  version ${v.version} (${v.createdAt}):`);
    for (const c of v.copies) lines.push(`    ${c.role.padEnd(12)} ${c.algorithm.padEnd(14)} ${c.keyUri}  #${c.fingerprint}`);
  }
  return lines.join('\n');
}
