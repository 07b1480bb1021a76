import test from 'ava';
import { isUnwrapdError } from '../src/errors.js';
import { RevisionConflictError } from '../src/registry/policy-registry.js';
import {
  checkCreate,
  checkUpdate,
  createCandidate,
  freezeRecord,
  registryLimits,
  sortPolicies,
  updateCandidate,
} from '../src/registry/registry-rules.js';
import { makePolicyRecord } from './helpers/policy-fixture.js';

/**
 * The write rules both registry backends apply (src/registry/registry-rules.ts), without storage; the
 * backends' own tests run the same rules through the contract (test/registry-contract.ts).
 */

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isUnwrapdError(err) ? err.code : 'not an UnwrapdError';
  }
};

test('create: an existing id, a full tenant (purged policies count) and a second live files-mode policy in a geo are refused', (t) => {
  const limits = registryLimits({ maxPoliciesPerTenant: 2 });
  const a = makePolicyRecord({ id: 'a', mode: 'files', geo: 'EUR' });
  t.is(
    codeOf(() => checkCreate([a], makePolicyRecord({ id: 'a' }), limits)),
    'already_exists',
  );
  t.is(
    codeOf(() =>
      checkCreate([a, makePolicyRecord({ id: 'p', state: 'purged' })], makePolicyRecord({ id: 'c' }), limits),
    ),
    'failed_precondition',
  );
  t.is(
    codeOf(() => checkCreate([a], makePolicyRecord({ id: 'b', mode: 'files', geo: 'EUR' }), limits)),
    'failed_precondition',
  );
  t.is(
    codeOf(() => checkCreate([a], makePolicyRecord({ id: 'b', mode: 'files', geo: 'NAM' }), limits)),
    undefined,
    'another geo',
  );
  t.is(
    codeOf(() => checkCreate([a], makePolicyRecord({ id: 'b', mode: 'mailbox', geo: 'EUR' }), limits)),
    undefined,
    'mailbox mode',
  );
  t.is(
    codeOf(() =>
      checkCreate([{ ...a, state: 'purged' }], makePolicyRecord({ id: 'b', mode: 'files', geo: 'EUR' }), limits),
    ),
    undefined,
    'the geo is free once purged',
  );
  t.is(
    codeOf(() => registryLimits({ maxPoliciesPerTenant: 0 })),
    'invalid_argument',
  );
});

test('update: a missing policy is not_found; a stale revision is a RevisionConflictError naming both revisions; the geo rule holds', (t) => {
  const stored = makePolicyRecord({ id: 'a', revision: 3 });
  t.is(
    codeOf(() => checkUpdate([], updateCandidate(stored, 3), 3)),
    'not_found',
  );
  const err = t.throws(() => checkUpdate([stored], updateCandidate(stored, 2), 2), {
    instanceOf: RevisionConflictError,
  });
  t.is(err?.message, 'revision conflict on policy contoso/a: expected revision 2, stored revision 3');
  t.is(checkUpdate([stored], updateCandidate(stored, 3), 3), stored);
  const other = makePolicyRecord({ id: 'b', mode: 'files', geo: 'EUR' });
  t.is(
    codeOf(() => checkUpdate([stored, other], updateCandidate({ ...stored, mode: 'files', geo: 'EUR' }, 3), 3)),
    'failed_precondition',
  );
  t.is(
    codeOf(() => updateCandidate(stored, 0)),
    'invalid_argument',
  );
});

test('candidates are validated, at the right revision, and frozen all the way down; sorting is by tenant then id, by code unit', (t) => {
  const created = createCandidate(makePolicyRecord({ revision: 7 }));
  t.is(created.revision, 1);
  t.is(updateCandidate(created, 4).revision, 5);
  for (const value of [
    created,
    created.keys,
    created.versions,
    created.versions[0],
    created.versions[0]!.copies,
    created.versions[0]!.copies[0],
  ])
    t.true(Object.isFrozen(value));
  t.is(freezeRecord(created), created, 'freezing twice is harmless');
  const ids = (records: ReturnType<typeof sortPolicies>) => records.map((p) => `${p.tenant}/${p.id}`);
  const records = [
    makePolicyRecord({ tenant: 'b', id: 'x' }),
    makePolicyRecord({ tenant: 'a', id: 'b' }),
    makePolicyRecord({ tenant: 'a', id: 'B' }),
  ];
  t.deepEqual(ids(sortPolicies(records)), ['a/B', 'a/b', 'b/x']);
});
