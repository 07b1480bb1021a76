import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Access } from '../src/auth/access.js';
import { AuthorizationTable, parseAuthorizationTable } from '../src/auth/authorization-table.js';
import { AccessDenied } from '../src/auth/caller.js';
import { DenialAudit, type Denial } from '../src/auth/denial-audit.js';
import { loadConfig, resolveGroup } from '../src/config/config.js';

const defaults = { data: ['user' as const], admin: ['admin' as const, 'user' as const, 'system' as const] };

test('a caller gets its exact entry, else the longest matching prefix, else its listener entry, else the listener default', (t) => {
  const table = new AuthorizationTable(
    parseAuthorizationTable(
      [
        { identity: 'tls:spiffe://prod/mail/store', roles: ['user', 'system'], tenants: ['a'] },
        { identity: 'tls:spiffe://prod/mail/*', roles: ['user'], tenants: ['b'] },
        { identity: 'tls:spiffe://prod/*', roles: ['user'], tenants: ['c'] },
        { identity: 'admin', roles: ['admin'], tenants: ['*'] },
      ],
      'test',
    ),
    defaults,
  );
  const grant = (id: string, l: 'data' | 'admin' = 'data') => {
    const c = table.caller(id, l);
    return [[...c.roles].join(','), c.tenants === '*' ? '*' : [...c.tenants].join(',')];
  };
  t.deepEqual(grant('tls:spiffe://prod/mail/store'), ['user,system', 'a']);
  t.deepEqual(grant('tls:spiffe://prod/mail/index'), ['user', 'b']);
  t.deepEqual(grant('tls:spiffe://prod/web'), ['user', 'c']);
  t.deepEqual(grant('unix:/run/unwrapd/unwrapd.sock'), ['user', '*'], 'the data listener default');
  t.deepEqual(
    grant('unix:/var/lib/unwrapd/admin.sock', 'admin'),
    ['admin', '*'],
    'the admin listener entry replaces its default',
  );
  t.is(
    table.caller('tls:spiffe://prod/mail/store', 'data'),
    table.caller('tls:spiffe://prod/mail/store', 'data'),
    'resolved once, reused',
  );
});

test('the table is validated strictly: each error names the entry and the field', (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /must be a JSON array/],
    [[{ identity: 'bob', roles: [], tenants: [] }], /entry 0: identity must be/],
    [[{ identity: 'tls:a*b', roles: [], tenants: [] }], /\* only at its end/],
    [[{ identity: 'data', roles: ['root'], tenants: ['*'] }], /entry 0: unknown role "root"/],
    [[{ identity: 'data', roles: ['user'], tenants: ['a b'] }], /tenant "a b" is not a valid tenant/],
    [[{ identity: 'data', roles: ['user'], tenants: ['a'], policies: ['a'] }], /policy "a" must be tenant\/policy/],
    [[{ identity: 'data', roles: ['user'], tenants: ['a'], extra: 1 }], /unknown field "extra"/],
    [
      [
        { identity: 'data', roles: ['user'], tenants: ['a'] },
        { identity: 'data', roles: [], tenants: [] },
      ],
      /entry 1: identity "data" is listed twice/,
    ],
    [[{ identity: 'data', roles: 'user', tenants: ['a'] }], /roles must be an array of strings/],
  ];
  for (const [value, message] of bad)
    t.throws(() => parseAuthorizationTable(value, 'test'), { message }, JSON.stringify(value));
});

test('the config takes the table inline or from authorizationFile (not both), and refuses a bad one at start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const entries = [{ identity: 'data', roles: ['user'], tenants: ['contoso'] }];
  await writeFile(join(dir, 'auth.json'), JSON.stringify(entries));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ authorization: entries }));
  await writeFile(
    join(dir, 'both.json'),
    JSON.stringify({ authorization: entries, authorizationFile: join(dir, 'auth.json') }),
  );
  await writeFile(join(dir, 'bad.json'), JSON.stringify([{ identity: 'data', roles: ['superuser'], tenants: [] }]));
  const env = { UNWRAPD_DATA_DIR: dir };
  t.deepEqual(loadConfig({ 'authorization-file': join(dir, 'auth.json') }, env).authorization, entries);
  t.deepEqual(loadConfig({ config: join(dir, 'config.json') }, env).authorization, entries);
  t.deepEqual(loadConfig({}, env).authorization, []);
  t.throws(() => loadConfig({ config: join(dir, 'both.json') }, env), {
    message: /either in the config file .* or in authorizationFile, not both/,
  });
  t.throws(() => loadConfig({ 'authorization-file': join(dir, 'bad.json') }, env), {
    message: /entry 0: unknown role "superuser"/,
  });
  t.throws(() => loadConfig({ 'authorization-file': join(dir, 'missing.json') }, env), {
    message: /cannot read authorizationFile/,
  });
  t.throws(() => loadConfig({ 'admin-listen': `unix://${join(dir, 'unwrapd.sock')}` }, env), {
    message: /adminListen must differ from listen/,
  });
  t.throws(() => loadConfig({ 'admin-socket-roles': 'admin,root' }, env), {
    message: /adminSocketRoles: unknown role "root"/,
  });
  const c = loadConfig({}, env);
  t.is(c.callerRoles, 'user', 'production default: the data socket is user only');
  t.is(c.adminSocketRoles, 'admin,user,system', 'recovery is never a default');
  t.is(c.adminListen, `unix://${join(dir, 'admin.sock')}`);
});

test('socketGroup takes a gid or a name from the group file; an unknown name is refused at start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-grp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'group'), 'root:x:0:\nunwrapd-clients:x:4242:app\n');
  t.is(resolveGroup('4242', join(dir, 'group')), 4242);
  t.is(resolveGroup('unwrapd-clients', join(dir, 'group')), 4242);
  t.throws(() => resolveGroup('nobody-here', join(dir, 'group')), {
    message: /socketGroup: no group named "nobody-here"/,
  });
});

test('Access: a denial names the caller and the missing grant, and is reported before it is thrown', (t) => {
  const seen: string[] = [];
  const access = new Access((e, tenant) => seen.push(`${e.method}|${e.caller}|${tenant}`));
  const table = new AuthorizationTable(
    parseAuthorizationTable([{ identity: 'data', roles: ['user'], tenants: ['a'], policies: ['a/p1', 'b/*'] }], 't'),
    defaults,
  );
  const c = table.caller('unix:/s', 'data');
  access.role(c, 'user', 'Encrypt');
  access.policy(c, 'a', 'p1', 'Encrypt');
  t.throws(() => access.role(c, 'system', 'Decrypt'), {
    instanceOf: AccessDenied,
    message: 'Decrypt: caller unix:/s lacks the system role',
  });
  t.throws(
    () => access.tenant(c, 'b', 'Encrypt'),
    { message: 'Encrypt: caller unix:/s lacks tenant "b"' },
    'a policy grant on a tenant not granted does not open it',
  );
  t.throws(() => access.policy(c, 'a', 'p2', 'Encrypt'), { message: 'Encrypt: caller unix:/s lacks policy "a/p2"' });
  t.throws(() => access.everything(c, 'GetStatus'), { message: 'GetStatus: caller unix:/s lacks every tenant' });
  t.deepEqual(seen, ['Decrypt|unix:/s|*', 'Encrypt|unix:/s|b', 'Encrypt|unix:/s|a', 'GetStatus|unix:/s|*']);
});

test('denial auditing: at most perMinute records per identity, then one summary of the suppressed; tokens come back with time', (t) => {
  let now = 0;
  const written: Array<Denial & { suppressed?: number }> = [];
  const audit = new DenialAudit({ perMinute: 3, write: (r) => written.push(r), now: () => now });
  const deny = (identity: string) =>
    audit.record({ identity, method: 'Encrypt', missing: 'the user role', tenant: 't', policyId: 'p' });
  for (let i = 0; i < 1000; i++) deny('unix:/a');
  deny('unix:/b');
  t.is(written.length, 4, 'three for a, one for b');
  t.is(audit.denied, 1001);
  t.is(audit.suppressed, 997);
  now += 20_000; // one token back for a
  deny('unix:/a');
  t.like(written[4], { identity: 'unix:/a', suppressed: 997 });
  t.like(written[5], { identity: 'unix:/a' });
  t.is(written[5]!.suppressed, undefined);
  for (let i = 0; i < 10; i++) deny('unix:/a');
  audit.flush();
  t.like(written.at(-1), { identity: 'unix:/a', suppressed: 10 });
  t.is(written.length, 7);
});

test('denial auditing bounds the identities it tracks: new identities beyond the bound share one bucket', (t) => {
  const written: Denial[] = [];
  const audit = new DenialAudit({ perMinute: 1, write: (r) => written.push(r), now: () => 0, maxIdentities: 10 });
  for (let i = 0; i < 10_000; i++)
    audit.record({
      identity: `tcp:10.0.0.${i}`,
      method: 'Encrypt',
      missing: 'the user role',
      tenant: 't',
      policyId: 'p',
    });
  t.is(written.length, 11);
});
