import test from 'ava';
import type { KeyRole, PolicyRecord } from '../src/registry/policy.js';
import { customerKeyDependents } from '../src/revocation/cached-key-dependents.js';
import { fakeCopies, makePolicyRecord } from './helpers/policy-fixture.js';

/**
 * Which customer keys count for a cached policy: one rule for the key probe and the Event Grid re-check
 * (src/revocation/cached-key-dependents.ts). A key counts when it holds a customer copy of a cached version.
 */

const keys = (a: string, b: string): Record<KeyRole, string> => ({
  'customer-a': a,
  'customer-b': b,
  availability: 'local:avail/1',
});

/** Version 1 under a1/b1, version 2 under a2/b2; the policy's current keys are a3/b3 (as after a change of keys not yet rolled). */
function twoVersions(tenant = 't', id = 'p'): PolicyRecord {
  return makePolicyRecord({
    tenant,
    id,
    keys: keys('local:a3/1', 'local:b3/1'),
    activeVersion: 2,
    versions: [
      { version: 1, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys('local:a1/1', 'local:b1/1')) },
      { version: 2, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys('local:a2/1', 'local:b2/1')) },
    ],
  });
}

function registryOf(policies: PolicyRecord[]) {
  return { get: (tenant: string, id: string) => policies.find((p) => p.tenant === tenant && p.id === id) };
}

test('the customer copies of cached versions count; uncached versions, the availability key and the current keys alone do not', (t) => {
  const deps = customerKeyDependents([{ tenant: 't', policyId: 'p', version: 1 }], registryOf([twoVersions()]));
  t.deepEqual([...deps.keys()].sort(), ['local:a1/1', 'local:b1/1']);
  t.deepEqual(deps.get('local:a1/1'), [{ tenant: 't', policyId: 'p' }]);
  t.false(deps.has('local:avail/1'), 'the availability key is not the customer to revoke');
  t.false(deps.has('local:a2/1'), 'version 2 is not cached');
  t.false(deps.has('local:a3/1'), 'the current keys protect nothing cached');
});

test('every cached version counts; a policy is listed once per key however many of its versions use it', (t) => {
  const shared = makePolicyRecord({
    tenant: 't',
    id: 's',
    activeVersion: 2,
    versions: [
      { version: 1, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys('local:same/1', 'local:b1/1')) },
      { version: 2, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys('local:same/1', 'local:b2/1')) },
    ],
  });
  const cached = [1, 2].flatMap((version) => [
    { tenant: 't', policyId: 'p', version },
    { tenant: 't', policyId: 's', version },
  ]);
  const deps = customerKeyDependents(cached, registryOf([twoVersions(), shared]));
  t.deepEqual([...deps.keys()].sort(), ['local:a1/1', 'local:a2/1', 'local:b1/1', 'local:b2/1', 'local:same/1']);
  t.deepEqual(deps.get('local:same/1'), [{ tenant: 't', policyId: 's' }]);
  t.deepEqual(deps.get('local:b1/1'), [
    { tenant: 't', policyId: 'p' },
    { tenant: 't', policyId: 's' },
  ]);
});

test('policies sharing a key are all listed; a policy gone from the registry or a version it no longer has is skipped', (t) => {
  const a = makePolicyRecord({
    tenant: 'x',
    id: 'a',
    keys: keys('local:shared/1', 'local:xa-b/1'),
    versions: [
      { version: 1, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys('local:shared/1', 'local:xa-b/1')) },
    ],
  });
  const b = makePolicyRecord({
    tenant: 'y',
    id: 'b',
    keys: keys('local:shared/1', 'local:yb-b/1'),
    versions: [
      { version: 1, createdAt: '2025-01-01T00:00:00.000Z', copies: fakeCopies(keys('local:shared/1', 'local:yb-b/1')) },
    ],
  });
  const cached = [
    { tenant: 'x', policyId: 'a', version: 1 },
    { tenant: 'y', policyId: 'b', version: 1 },
    { tenant: 'z', policyId: 'gone', version: 1 },
    { tenant: 'x', policyId: 'a', version: 9 },
  ];
  const deps = customerKeyDependents(cached, registryOf([a, b]));
  t.deepEqual(deps.get('local:shared/1'), [
    { tenant: 'x', policyId: 'a' },
    { tenant: 'y', policyId: 'b' },
  ]);
  t.is(deps.size, 3);
  t.is(customerKeyDependents([], registryOf([a, b])).size, 0, 'nothing cached, nothing to ask');
});
