import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PolicyRecord } from '../src/registry/policy.js';
import type { PolicyRegistry, RegistryLimits } from '../src/registry/policy-registry.js';
import { makePolicyRecord } from './helpers/policy-fixture.js';

/**
 * The PolicyRegistry contract, as ava tests every backend runs (the file registry in file-registry.test.ts,
 * PostgreSQL in postgres-registry.test.ts). Each test gets fresh, empty storage from `makeRegistry`.
 */
export interface RegistryFixture {
  /** An opened registry on fresh, empty storage. */
  registry: PolicyRegistry;
  /** Opens another registry on the same storage, as another process would. `cleanup` closes it. */
  openAnother(): Promise<PolicyRegistry>;
  /** Closes every registry of the fixture and removes the storage. */
  cleanup(): Promise<void>;
}

export type MakeRegistry = (limits?: Partial<RegistryLimits>) => Promise<RegistryFixture>;

/** How long a write through one registry may take to reach another's onChange. */
const PROPAGATION_TIMEOUT_MS = 10_000;

export function registryContract(
  name: string,
  makeRegistry: MakeRegistry,
  testFn: (title: string, implementation: (t: ExecutionContext) => Promise<void> | void) => void = test,
): void {
  const title = (rule: string) => `${name} registry: ${rule}`;
  const setup = async (t: ExecutionContext, limits?: Partial<RegistryLimits>): Promise<RegistryFixture> => {
    const fixture = await makeRegistry(limits);
    t.teardown(() => fixture.cleanup());
    return fixture;
  };

  testFn(title('create stores the policy and get returns it'), async (t) => {
    const { registry } = await setup(t);
    const record = makePolicyRecord({ tenant: 'contoso', id: 'dep-1' });
    const created = await registry.create(record);
    t.deepEqual(created, record);
    t.deepEqual(registry.get('contoso', 'dep-1'), record);
    t.is(registry.get('contoso', 'dep-2'), undefined);
    t.is(registry.get('fabrikam', 'dep-1'), undefined);
  });

  testFn(title('create stores revision 1 whatever revision the record carries'), async (t) => {
    const { registry } = await setup(t);
    const created = await registry.create(makePolicyRecord({ revision: 7 }));
    t.is(created.revision, 1);
    t.is(registry.get(created.tenant, created.id)?.revision, 1);
  });

  testFn(title('the stored record is a copy: changing the caller objects afterwards changes nothing'), async (t) => {
    const { registry } = await setup(t);
    const record = makePolicyRecord({ name: 'original' });
    await registry.create(record);
    record.name = 'changed by caller';
    const listed = registry.list();
    listed.pop();
    t.is(registry.get(record.tenant, record.id)?.name, 'original');
    t.is(registry.list().length, 1);
  });

  testFn(title('list sorts by tenant then id, and filters by tenant'), async (t) => {
    const { registry } = await setup(t);
    const order = [
      ['t2', 'b'],
      ['t1', 'c'],
      ['t1', 'a'],
      ['t2', 'a'],
      ['t1', 'b'],
    ] as const;
    for (const [tenant, id] of order) await registry.create(makePolicyRecord({ tenant, id }));
    const keys = (records: PolicyRecord[]) => records.map((p) => `${p.tenant}/${p.id}`);
    t.deepEqual(keys(registry.list()), ['t1/a', 't1/b', 't1/c', 't2/a', 't2/b']);
    t.deepEqual(keys(registry.list('t2')), ['t2/a', 't2/b']);
    t.deepEqual(registry.list('nobody'), []);
  });

  testFn(title('the same id in two tenants is two policies'), async (t) => {
    const { registry } = await setup(t);
    await registry.create(makePolicyRecord({ tenant: 't1', id: 'shared', name: 'one' }));
    await registry.create(makePolicyRecord({ tenant: 't2', id: 'shared', name: 'two' }));
    t.is(registry.get('t1', 'shared')?.name, 'one');
    t.is(registry.get('t2', 'shared')?.name, 'two');
  });

  testFn(title('creating an existing policy fails already_exists and keeps the original'), async (t) => {
    const { registry } = await setup(t);
    await registry.create(makePolicyRecord({ name: 'first' }));
    await t.throwsAsync(registry.create(makePolicyRecord({ name: 'second' })), { code: 'already_exists' });
    t.is(registry.get('contoso', 'policy-1')?.name, 'first');
  });

  testFn(title('a record that fails validation is refused with invalid_argument and not stored'), async (t) => {
    const { registry } = await setup(t);
    await t.throwsAsync(registry.create(makePolicyRecord({ tenant: 'bad tenant!' })), { code: 'invalid_argument' });
    const noCopies = makePolicyRecord({ id: 'no-copies' });
    noCopies.versions = [{ version: 1, createdAt: noCopies.createdAt, copies: [] }];
    await t.throwsAsync(registry.create(noCopies), { code: 'invalid_argument' });
    t.deepEqual(registry.list(), []);
  });

  testFn(title('update with the current revision stores the record at revision + 1'), async (t) => {
    const { registry } = await setup(t);
    const created = await registry.create(makePolicyRecord());
    const updated = await registry.update({ ...created, state: 'revoked', stateReason: 'customer revoked' }, 1);
    t.is(updated.revision, 2);
    t.is(updated.state, 'revoked');
    t.deepEqual(registry.get(created.tenant, created.id), updated);
  });

  testFn(title('revision increments on every update'), async (t) => {
    const { registry } = await setup(t);
    let current = await registry.create(makePolicyRecord());
    for (const expected of [2, 3, 4]) {
      current = await registry.update({ ...current, name: `name ${expected}` }, current.revision);
      t.is(current.revision, expected);
    }
    t.is(registry.get(current.tenant, current.id)?.name, 'name 4');
  });

  testFn(
    title('update with a stale revision fails failed_precondition (revision conflict) and changes nothing'),
    async (t) => {
      const { registry } = await setup(t);
      const created = await registry.create(makePolicyRecord());
      const updated = await registry.update({ ...created, name: 'newer' }, 1);
      const err = await t.throwsAsync(registry.update({ ...created, name: 'stale' }, 1), {
        code: 'failed_precondition',
      });
      t.regex(err?.message ?? '', /revision conflict/);
      t.deepEqual(registry.get(created.tenant, created.id), updated);
    },
  );

  testFn(title('update of a policy that does not exist fails not_found'), async (t) => {
    const { registry } = await setup(t);
    await t.throwsAsync(registry.update(makePolicyRecord({ id: 'ghost' }), 1), { code: 'not_found' });
    t.deepEqual(registry.list(), []);
  });

  testFn(title('a tenant may not exceed its policy limit, purged policies included'), async (t) => {
    const { registry } = await setup(t, { maxPoliciesPerTenant: 3 });
    for (const id of ['p1', 'p2', 'p3']) await registry.create(makePolicyRecord({ tenant: 'full', id }));
    await t.throwsAsync(registry.create(makePolicyRecord({ tenant: 'full', id: 'p4' })), {
      code: 'failed_precondition',
    });
    const p1 = registry.get('full', 'p1');
    if (!p1) return t.fail('p1 missing');
    await registry.update({ ...p1, state: 'purged', versions: [] }, p1.revision);
    await t.throwsAsync(registry.create(makePolicyRecord({ tenant: 'full', id: 'p4' })), {
      code: 'failed_precondition',
    });
    await registry.create(makePolicyRecord({ tenant: 'other', id: 'p1' }));
    t.is(registry.list('full').length, 3);
    t.is(registry.list('other').length, 1);
  });

  testFn(title('files mode allows one policy per tenant per geo until it is purged'), async (t) => {
    const { registry } = await setup(t);
    const files = (tenant: string, id: string, geo: string) => makePolicyRecord({ tenant, id, geo, mode: 'files' });
    const first = await registry.create(files('t1', 'eur-1', 'EUR'));
    await t.throwsAsync(registry.create(files('t1', 'eur-2', 'EUR')), { code: 'failed_precondition' });
    await registry.create(files('t1', 'nam-1', 'NAM'));
    await registry.create(files('t2', 'eur-1', 'EUR'));
    await registry.update({ ...first, state: 'purged', versions: [] }, first.revision);
    await registry.create(files('t1', 'eur-2', 'EUR'));
    t.deepEqual(
      registry.list('t1').map((p) => p.id),
      ['eur-1', 'eur-2', 'nam-1'],
    );
  });

  testFn(title('mailbox mode allows many policies per tenant in one geo, beside a files-mode one'), async (t) => {
    const { registry } = await setup(t);
    await registry.create(makePolicyRecord({ id: 'files', mode: 'files', geo: 'EUR' }));
    for (const id of ['mbx-1', 'mbx-2', 'mbx-3']) {
      await registry.create(makePolicyRecord({ id, mode: 'mailbox', geo: 'EUR' }));
    }
    t.is(registry.list('contoso').length, 4);
  });

  testFn(title('onChange gets each created and updated record, until unsubscribed'), async (t) => {
    const { registry } = await setup(t);
    const seen: string[] = [];
    const unsubscribe = registry.onChange((p) => seen.push(`${p.id}@${p.revision}`));
    const a = await registry.create(makePolicyRecord({ id: 'a' }));
    t.deepEqual(seen, ['a@1']);
    await registry.update({ ...a, name: 'renamed' }, 1);
    t.deepEqual(seen, ['a@1', 'a@2']);
    await t.throwsAsync(registry.create(makePolicyRecord({ id: 'a' })));
    t.deepEqual(seen, ['a@1', 'a@2'], 'a failed write notifies nothing');
    unsubscribe();
    await registry.create(makePolicyRecord({ id: 'b' }));
    t.deepEqual(seen, ['a@1', 'a@2']);
  });

  testFn(title('concurrent creates through one registry all land'), async (t) => {
    const { registry, openAnother } = await setup(t);
    const ids = Array.from({ length: 20 }, (_, i) => `c-${String(i).padStart(2, '0')}`);
    await Promise.all(ids.map((id) => registry.create(makePolicyRecord({ id }))));
    t.deepEqual(
      registry.list().map((p) => p.id),
      ids,
    );
    const other = await openAnother();
    t.is(other.list().length, ids.length);
  });

  testFn(title('the tenant limit holds against concurrent creates from two registries'), async (t) => {
    const { registry, openAnother } = await setup(t, { maxPoliciesPerTenant: 5 });
    const other = await openAnother();
    const attempts = Array.from({ length: 12 }, (_, i) =>
      (i % 2 === 0 ? registry : other).create(makePolicyRecord({ id: `p-${i}` })),
    );
    const results = await Promise.allSettled(attempts);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.is(fulfilled.length, 5);
    for (const r of rejected) t.is((r.reason as { code?: string }).code, 'failed_precondition');
    const fresh = await openAnother();
    t.is(fresh.list('contoso').length, 5);
  });

  testFn(title('two registries updating at the same revision: exactly one wins'), async (t) => {
    const { registry, openAnother } = await setup(t);
    const created = await registry.create(makePolicyRecord());
    const other = await openAnother();
    const results = await Promise.allSettled([
      registry.update({ ...created, name: 'from one' }, 1),
      other.update({ ...created, name: 'from two' }, 1),
    ]);
    const winners = results.filter((r) => r.status === 'fulfilled');
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.is(winners.length, 1);
    t.is((losers[0]?.reason as { code?: string } | undefined)?.code, 'failed_precondition');
    const fresh = await openAnother();
    t.is(fresh.get(created.tenant, created.id)?.revision, 2);
  });

  testFn(title('a second registry on the same storage sees every write (durability)'), async (t) => {
    const { registry, openAnother } = await setup(t);
    const a = await registry.create(makePolicyRecord({ tenant: 't1', id: 'a' }));
    await registry.create(makePolicyRecord({ tenant: 't2', id: 'b', mode: 'files', geo: 'NAM' }));
    await registry.update({ ...a, state: 'revoked', stateReason: 'test' }, a.revision);
    const other = await openAnother();
    t.deepEqual(other.list(), registry.list());
    t.is(other.get('t1', 'a')?.revision, 2);
    t.is(other.get('t1', 'a')?.state, 'revoked');
  });

  testFn(title('writes through another registry reach get, list and onChange'), async (t) => {
    const { registry, openAnother } = await setup(t);
    const seen: PolicyRecord[] = [];
    registry.onChange((p) => seen.push(p));
    const other = await openAnother();
    const created = await other.create(makePolicyRecord({ id: 'remote' }));
    await eventually(() => registry.get('contoso', 'remote')?.revision === 1);
    await other.update({ ...created, state: 'revoked' }, created.revision);
    await eventually(() => registry.get('contoso', 'remote')?.state === 'revoked');
    await eventually(() => seen.some((p) => p.id === 'remote' && p.revision === 2));
    t.true(seen.some((p) => p.id === 'remote' && p.revision === 1));
    t.deepEqual(
      registry.list().map((p) => p.id),
      ['remote'],
    );
  });
}

/** Waits until `check` holds, or fails after the propagation timeout. */
export async function eventually(check: () => boolean, timeoutMs = PROPAGATION_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
