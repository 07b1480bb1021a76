import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { SecretKey } from '../src/crypto/secret-key.js';
import { createPkcs11Provider, PKCS11_ADDON_MISSING } from '../src/providers/pkcs11-provider.js';
import type { Pkcs11Module } from '../src/providers/pkcs11-token.js';
import { formatPkcs11Uri, parsePkcs11Uri } from '../src/providers/pkcs11-uri.js';
import { ProviderError, type ProviderErrorKind, type ProviderErrorReason } from '../src/providers/provider-error.js';
import { createProviderRouter } from '../src/providers/provider-router.js';
import type { RootKeyProvider } from '../src/providers/root-key-provider.js';
import { destroyKey, importRsaKeyPair, softHsmDependency, softHsmToken, type SoftHsmToken } from './helpers/softhsm.js';
import { requireSystemDependency } from './helpers/system-dependency.js';

/**
 * The PKCS#11 provider against SoftHSM 2 (Debian's softhsm2, which .ci/run installs). Without SoftHSM the
 * tests are skipped with a notice, except under CI=true, where they fail.
 */
const available = requireSystemDependency(test, import.meta.url, softHsmDependency());
const hsmTest = available ? test : test.skip;

let token: SoftHsmToken;
let other: SoftHsmToken;
let provider: RootKeyProvider;

test.before(async () => {
  if (!available) return;
  token = softHsmToken('unwrapd-test', '246810');
  // A second token, in the same SoftHSM config dir, for the wrong-PIN test (PKCS#11 login is per token
  // and per process, so a wrong PIN must be tried where nobody has logged in).
  other = { ...token, label: 'unwrapd-other', pin: '111111' };
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', other.label, '--so-pin', '13579', '--pin', other.pin],
    { stdio: 'ignore' },
  );
  await importRsaKeyPair(token, 'availability', Buffer.from([0x01]));
  await importRsaKeyPair(token, 'no-decrypt', Buffer.from([0x02]), { decrypt: false });
  await importRsaKeyPair(token, 'doomed', Buffer.from([0x03]));
  await importRsaKeyPair(token, 'rolled', Buffer.from([0x04]));
  await importRsaKeyPair(token, 'rolled', Buffer.from([0x05]));
  await importRsaKeyPair(other, 'guarded', Buffer.from([0x01]));
  provider = createPkcs11Provider({ modulePath: token.module, defaultToken: token.label, pin: token.pin });
});

test.after.always(async () => {
  await provider?.close();
  token?.cleanup();
});

const signal = () => ({ signal: AbortSignal.timeout(5000) });

async function rejectsWith(
  t: import('ava').ExecutionContext,
  work: Promise<unknown>,
  kind: ProviderErrorKind,
  reason: ProviderErrorReason,
): Promise<void> {
  const err = await t.throwsAsync<ProviderError>(work, { instanceOf: ProviderError });
  t.is(err?.kind, kind, err?.message);
  t.is(err?.reason, reason, err?.message);
}

hsmTest(
  'round trip on SoftHSM: resolve pins the id, wrap and unwrap with the OAEP hash the token offers (SHA-1 on SoftHSM)',
  async (t) => {
    const resolved = await provider.resolve('pkcs11:object=availability', signal());
    t.is(resolved.uri, `pkcs11:token=unwrapd-test;object=availability;id=%01`);
    t.is(resolved.algorithm, 'RSA-OAEP'); // SoftHSM 2.6: OAEP with SHA-1 only
    const key = SecretKey.copyFrom(randomBytes(32), true);
    const wrapped = await provider.wrap(resolved.uri, key, signal());
    t.is(wrapped.algorithm, 'RSA-OAEP');
    t.is(wrapped.ciphertext.length, 256);
    const out = await provider.unwrap(wrapped, signal());
    t.true(out.expose().equals(key.expose()));
    // Through the router, as the daemon uses it.
    const router = createProviderRouter([provider]);
    t.true((await router.unwrap(wrapped, signal())).expose().equals(key.expose()));
    t.deepEqual(await provider.status(resolved.uri, signal()), { uri: resolved.uri, usable: true });
    // A copy recorded as RSA-OAEP-256 asks for a mechanism SoftHSM does not offer: refused, not mis-decrypted.
    await rejectsWith(
      t,
      provider.unwrap({ ...wrapped, algorithm: 'RSA-OAEP-256' }, signal()),
      'revoked',
      'unwrap_rejected',
    );
    await rejectsWith(
      t,
      provider.unwrap({ ...wrapped, ciphertext: randomBytes(256) }, signal()),
      'revoked',
      'unwrap_rejected',
    );
    await rejectsWith(t, provider.unwrap({ ...wrapped, algorithm: 'RSA1_5' }, signal()), 'revoked', 'unwrap_rejected');
  },
);

hsmTest('concurrent unwraps on one session are serialized and all succeed', async (t) => {
  const uri = (await provider.resolve('pkcs11:token=unwrapd-test;object=availability', signal())).uri;
  const keys = Array.from({ length: 8 }, () => SecretKey.copyFrom(randomBytes(32), true));
  const wrapped = await Promise.all(keys.map((k) => provider.wrap(uri, k, signal())));
  const outs = await Promise.all(wrapped.map((w) => provider.unwrap(w, signal())));
  outs.forEach((o, i) => t.true(o.expose().equals(keys[i]!.expose())));
});

hsmTest('two keys with one label: ambiguous without id, each usable with its id', async (t) => {
  await rejectsWith(t, provider.resolve('pkcs11:object=rolled', signal()), 'revoked', 'key_not_found');
  const a = await provider.resolve('pkcs11:object=rolled;id=%04', signal());
  const b = await provider.resolve('pkcs11:object=rolled;id=%05', signal());
  t.not(a.uri, b.uri);
  const key = SecretKey.copyFrom(randomBytes(32), true);
  const wa = await provider.wrap(a.uri, key, signal());
  t.true((await provider.unwrap(wa, signal())).expose().equals(key.expose()));
  await rejectsWith(t, provider.unwrap({ ...wa, keyUri: b.uri }, signal()), 'revoked', 'unwrap_rejected');
});

hsmTest('classification: missing, destroyed, may-not-decrypt, unknown token, wrong PIN, bad module', async (t) => {
  await rejectsWith(t, provider.resolve('pkcs11:object=nope', signal()), 'revoked', 'key_not_found');
  const doomed = await provider.resolve('pkcs11:object=doomed', signal());
  const key = SecretKey.copyFrom(randomBytes(32), true);
  const wrapped = await provider.wrap(doomed.uri, key, signal());
  t.is(destroyKey(token, 'doomed'), 2);
  await rejectsWith(t, provider.unwrap(wrapped, signal()), 'revoked', 'key_not_found');
  t.is((await provider.status(doomed.uri, signal())).reason, 'key_not_found');
  await rejectsWith(t, provider.resolve('pkcs11:object=no-decrypt', signal()), 'revoked', 'key_disabled');
  t.deepEqual(await provider.status('pkcs11:object=no-decrypt', signal()), {
    uri: 'pkcs11:object=no-decrypt',
    usable: false,
    kind: 'revoked',
    reason: 'key_disabled',
  });
  await rejectsWith(
    t,
    provider.resolve('pkcs11:token=absent;object=availability', signal()),
    'unavailable',
    'connection_error',
  );
  await rejectsWith(t, provider.resolve('pkcs11:token=;object=', signal()), 'revoked', 'key_not_found');

  const wrongPin = createPkcs11Provider({ modulePath: token.module, defaultToken: other.label, pin: '000000' });
  await rejectsWith(t, wrongPin.resolve('pkcs11:object=guarded', signal()), 'revoked', 'access_denied');
  const rightPin = createPkcs11Provider({ modulePath: token.module, defaultToken: other.label, pin: other.pin });
  t.truthy((await rightPin.resolve('pkcs11:object=guarded', signal())).uri);

  const badModule = createPkcs11Provider({ modulePath: '/nonexistent/libpkcs11.so', pin: '1' });
  await rejectsWith(t, badModule.resolve('pkcs11:token=t;object=k', signal()), 'unavailable', 'server_error');
});

hsmTest('an aborted signal is answered at once', async (t) => {
  const controller = new AbortController();
  controller.abort(new Error('gone'));
  await rejectsWith(
    t,
    provider.unwrap(
      { keyUri: 'pkcs11:object=availability;id=%01', algorithm: 'RSA-OAEP', ciphertext: randomBytes(256) },
      { signal: controller.signal },
    ),
    'unavailable',
    'aborted',
  );
});

hsmTest('unwrapd keys check with the PKCS#11 settings (module, token, PIN file) from the command line', async (t) => {
  const bin = fileURLToPath(new URL('../bin/unwrapd.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'uwd-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'pin'), `${token.pin}\n`, { mode: 0o600 });
  const env = { ...process.env, UNWRAPD_DATA_DIR: dir, SOFTHSM2_CONF: process.env.SOFTHSM2_CONF };
  const run = (...args: string[]) =>
    promisify(execFile)(
      process.execPath,
      [
        bin,
        'keys',
        'check',
        ...args,
        '--pkcs11-module',
        token.module,
        '--pkcs11-token',
        token.label,
        '--pkcs11-pin-file',
        join(dir, 'pin'),
      ],
      { env },
    ).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
  const ok = await run('pkcs11:object=availability', '--json');
  t.is(ok.code, 0, ok.out);
  const report = JSON.parse(ok.out) as { usable: boolean; pinnedUri: string; algorithm: string };
  t.true(report.usable);
  t.is(report.pinnedUri, 'pkcs11:token=unwrapd-test;object=availability;id=%01');
  t.is(report.algorithm, 'RSA-OAEP');
  const bad = await run('pkcs11:object=no-decrypt');
  t.is(bad.code, 1);
  t.regex(bad.out, /FAILED revoked\/key_disabled/);
  t.regex(bad.out, /unwrapd cannot use this key/);
});

test('without the pkcs11js addon (an optional dependency) creating the provider fails with one line saying how to enable it', (t) => {
  const missing = () => {
    throw Object.assign(new Error("Cannot find module 'pkcs11js'"), { code: 'MODULE_NOT_FOUND' });
  };
  const err = t.throws(() => createPkcs11Provider({ modulePath: '/usr/lib/x.so', pin: '1', loadAddon: missing }));
  t.is(err?.message, PKCS11_ADDON_MISSING);
  t.regex(err!.message, /pkcs11Module .*pkcs11js.*C\+\+ toolchain \(make, g\+\+, python3\) and re-run npm ci$/);
  t.false(err!.message.includes('\n'));
  // A failure other than "not installed" is not disguised as one.
  const broken = () => {
    throw new Error('boom');
  };
  t.is(t.throws(() => createPkcs11Provider({ modulePath: '/x.so', pin: '1', loadAddon: broken }))?.message, 'boom');
  // The module itself is not touched until a key is used: creating the provider with the addon present succeeds.
  let loads = 0;
  const present = () => {
    loads++;
    return {} as Pkcs11Module;
  };
  t.notThrows(() => createPkcs11Provider({ modulePath: '/x.so', pin: '1', loadAddon: present }));
  t.is(loads, 1);
});

test('pkcs11 URIs (RFC 7512 subset)', (t) => {
  t.deepEqual(parsePkcs11Uri('pkcs11:token=My%20HSM;object=avail;id=%01%ff'), {
    token: 'My HSM',
    object: 'avail',
    id: Buffer.from([1, 255]),
  });
  t.deepEqual(parsePkcs11Uri('pkcs11:object=a;type=private'), { object: 'a' });
  for (const bad of [
    'pkcs11:',
    'pkcs11:token=x',
    'pkcs11:object=a?pin-value=1234',
    'pkcs11:object=a;object=b',
    'pkcs11:object=a;type=public',
    'pkcs11:object=%zz',
    'pkcs11:serial=1;object=a',
    'local:a',
  ]) {
    t.is(parsePkcs11Uri(bad), undefined, bad);
  }
  const ref = { token: 'T;1', object: 'a=b', id: Buffer.from([0, 16]) };
  t.deepEqual(parsePkcs11Uri(formatPkcs11Uri(ref)), ref);
});

hsmTest(
  'createKey makes a policy its own key pair on the token; destroyKey destroys it (C_DestroyObject) and a retry confirms it is gone',
  async (t) => {
    const created = await provider.createKey!(`pkcs11:token=${token.label}`, 'contoso.mailbox-1', {
      signal: AbortSignal.timeout(30_000),
    });
    t.regex(created.uri, /^pkcs11:token=unwrapd-test;object=av-contoso\.mailbox-1-[0-9a-f]{12};id=(%[0-9a-f]{2}){16}$/);
    t.is(created.algorithm, 'RSA-OAEP', 'SoftHSM: OAEP with SHA-1 only');
    const ik = SecretKey.copyFrom(randomBytes(32));
    const wrapped = await provider.wrap(created.uri, ik, { signal: AbortSignal.timeout(30_000) });
    const back = await provider.unwrap(wrapped, { signal: AbortSignal.timeout(30_000) });
    t.true(back.expose().equals(ik.expose()));
    back.destroy();
    t.not(
      (await provider.createKey!('pkcs11:', 'contoso.mailbox-1', { signal: AbortSignal.timeout(30_000) })).uri,
      created.uri,
      'the default token; never the same key twice',
    );

    const confirmation = await provider.destroyKey!(created.uri, { signal: AbortSignal.timeout(30_000) });
    t.is(confirmation.provider, 'pkcs11');
    t.is(confirmation.keyUri, created.uri);
    t.false(confirmation.alreadyDestroyed);
    t.regex(confirmation.action, /C_DestroyObject on 2 object\(s\)/);
    await rejectsWith(t, provider.unwrap(wrapped, { signal: AbortSignal.timeout(30_000) }), 'revoked', 'key_not_found');
    // A fresh session (another process after a restart) does not find it either.
    const fresh = createPkcs11Provider({ modulePath: token.module, defaultToken: token.label, pin: token.pin });
    t.false((await fresh.status(created.uri, { signal: AbortSignal.timeout(30_000) })).usable);
    const again = await provider.destroyKey!(created.uri, { signal: AbortSignal.timeout(30_000) });
    t.true(again.alreadyDestroyed);
    ik.destroy();
  },
);
