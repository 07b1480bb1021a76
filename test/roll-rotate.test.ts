import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { providerError } from '../src/providers/provider-error.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});

const keystore = () => openLocalKeystore(d.config.keystorePath);

test.serial(
  'a roll: content encrypted before RollKey decrypts after it with the old customer key version disabled',
  async (t) => {
    await keystore().createKey('roll-a');
    await keystore().createKey('roll-b');
    await d.client.createPolicy({
      tenant: 'demo',
      id: 'roll',
      mode: 'POLICY_MODE_MAILBOX',
      customerKeyA: 'local:roll-a',
      customerKeyB: 'local:roll-b',
      availabilityKey: '',
    });
    const before = (
      await d.client.encrypt({ tenant: 'demo', policyId: 'roll', plaintext: Buffer.from('written before the roll') })
    ).envelope;
    await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'roll' }); // two versions to rewrap
    const v2 = (await d.client.encrypt({ tenant: 'demo', policyId: 'roll', plaintext: Buffer.from('v2') })).envelope;

    await keystore().rotateKey('roll-a'); // the customer adds version 2 of key A in their vault
    const rolled = await d.client.rollKey({ tenant: 'demo', id: 'roll', role: 'customer-a' });
    t.is(rolled.state, 'POLICY_STATE_ACTIVE');
    t.is(rolled.customerKeys[0]!.uri, 'local:roll-a/2');
    for (const v of rolled.versions) t.is(v.copies.find((c) => c.role === 'customer-a')!.keyUri, 'local:roll-a/2');

    // Old version of A disabled, and B disabled too: only the new copies under A v2 can unwrap.
    await keystore().setEnabled('roll-a', false, 1);
    await keystore().setEnabled('roll-b', false);
    await d.client.evict({ tenant: 'demo', id: 'roll' });
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope: before })).plaintext.toString(),
      'written before the roll',
    );
    t.is((await d.client.decrypt({ tenant: 'demo', envelope: v2 })).plaintext.toString(), 'v2');
    await keystore().setEnabled('roll-b', true);
  },
);

test.serial(
  'a roll keeps the old copies until the new ones unwrap correctly: a failed verification changes nothing',
  async (t) => {
    await createPolicy(d.client, 'roll-verify');
    const envelope = (
      await d.client.encrypt({ tenant: 'demo', policyId: 'roll-verify', plaintext: Buffer.from('safe') })
    ).envelope;
    const before = await d.client.getPolicy('demo', 'roll-verify');
    await keystore().rotateKey('demo-customer-b');
    d.provider.fail = (op, uri) =>
      op === 'unwrap' && uri === 'local:demo-customer-b/2' ? providerError('server_error', uri, 'injected') : undefined;
    try {
      t.is(
        (await codeOf(d.client.rollKey({ tenant: 'demo', id: 'roll-verify', role: 'customer-b' }))).code,
        grpc.status.UNAVAILABLE,
      );
    } finally {
      d.provider.fail = undefined;
    }
    const after = await d.client.getPolicy('demo', 'roll-verify');
    t.deepEqual(after.versions[0]!.copies, before.versions[0]!.copies, 'no copy replaced');
    t.is(after.customerKeys[1]!.uri, before.customerKeys[1]!.uri);
    t.is(after.state, 'POLICY_STATE_ROLLING', 'operators see the roll is incomplete');
    t.deepEqual(after.rollProgress, { done: 0, total: 1 });
    await d.client.evict({ tenant: 'demo', id: 'roll-verify' });
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope })).plaintext.toString(),
      'safe',
      'a rolling policy keeps serving',
    );
    const resumed = await d.client.rollKey({ tenant: 'demo', id: 'roll-verify', role: 'customer-b' });
    t.is(resumed.state, 'POLICY_STATE_ACTIVE');
    t.is(resumed.customerKeys[1]!.uri, 'local:demo-customer-b/2');
  },
);

test.serial('Refresh rewraps every version under the latest version of each root key', async (t) => {
  const created = await createPolicy(d.client, 'refresh');
  await keystore().rotateKey(/^local:([^/]+)\//.exec(created.availabilityKey!.uri)![1]!);
  await keystore().rotateKey('demo-customer-a');
  const p = await d.client.refresh({ tenant: 'demo', id: 'refresh' });
  const uris = Object.fromEntries(p.versions[0]!.copies.map((c) => [c.role, c.keyUri]));
  t.regex(uris['customer-a']!, /^local:demo-customer-a\/\d+$/);
  t.is(uris.availability, p.availabilityKey!.uri);
  t.is(uris['customer-a'], p.customerKeys[0]!.uri);
  const latestA = (await keystore().list()).find((k) => k.name === 'demo-customer-a')!.latestVersion;
  t.is(uris['customer-a'], `local:demo-customer-a/${latestA}`);
  const again = await d.client.refresh({ tenant: 'demo', id: 'refresh' });
  t.is(again.revision, p.revision, 'nothing to do: no write');
});

test.serial(
  'rotation: old versions decrypt, new encryptions use the new version, the minimum decryption version is enforced',
  async (t) => {
    await createPolicy(d.client, 'rotate');
    const v1 = (await d.client.encrypt({ tenant: 'demo', policyId: 'rotate', plaintext: Buffer.from('one') })).envelope;
    const r = await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rotate' });
    t.is(r.activeVersion, 2);
    t.is(r.minDecryptVersion, 1);
    const e2 = await d.client.encrypt({ tenant: 'demo', policyId: 'rotate', plaintext: Buffer.from('two') });
    t.is(e2.keyVersion, 2);
    t.is((await d.client.decrypt({ tenant: 'demo', envelope: v1 })).keyVersion, 1);
    const r3 = await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rotate', minDecryptVersion: 2 });
    t.is(r3.activeVersion, 3);
    t.is(r3.minDecryptVersion, 2);
    const retired = await codeOf(d.client.decrypt({ tenant: 'demo', envelope: v1 }));
    t.is(retired.code, grpc.status.FAILED_PRECONDITION);
    t.regex(retired.details, /key version 1 .* is retired \(minimum 2\)/);
    t.is((await d.client.decrypt({ tenant: 'demo', envelope: e2.envelope })).plaintext.toString(), 'two');
    t.false(
      d.daemon.cache.entries().some((e) => e.policyId === 'rotate' && e.version === 1),
      'the retired key left memory',
    );
    t.is(
      (await codeOf(d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rotate', minDecryptVersion: 1 }))).code,
      grpc.status.INVALID_ARGUMENT,
      'the minimum never goes down',
    );
  },
);

test.serial(
  'Rewrap moves content to another policy without re-encrypting it; the caller sees no plaintext',
  async (t) => {
    await createPolicy(d.client, 'rw-src');
    await createPolicy(d.client, 'rw-dst');
    const ctx = { mailbox: 'alice' };
    const plaintext = Buffer.from('mail item moved to another policy');
    const src = (await d.client.encrypt({ tenant: 'demo', policyId: 'rw-src', plaintext, context: ctx })).envelope;
    const res = await d.client.rewrap({ tenant: 'demo', envelope: src, context: ctx, targetPolicyId: 'rw-dst' });
    t.is(res.policyId, 'rw-dst');
    t.false(res.envelope.includes(plaintext));
    const tag = 16;
    const body = plaintext.length + tag;
    t.true(
      res.envelope.subarray(res.envelope.length - body).equals(src.subarray(src.length - body)),
      'ciphertext and tag unchanged',
    );
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope: res.envelope, context: ctx })).plaintext.toString(),
      plaintext.toString(),
    );
    await d.client.revoke({ tenant: 'demo', id: 'rw-src' });
    t.is(
      (await d.client.decrypt({ tenant: 'demo', envelope: res.envelope, context: ctx })).policyId,
      'rw-dst',
      'independent of the source policy now',
    );
  },
);

test.serial('Rewrap to the newest version of the same policy, and refusals', async (t) => {
  await createPolicy(d.client, 'rw-same');
  const env = (await d.client.encrypt({ tenant: 'demo', policyId: 'rw-same', plaintext: Buffer.from('x') })).envelope;
  await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rw-same' });
  const res = await d.client.rewrap({ tenant: 'demo', envelope: env });
  t.is(res.keyVersion, 2);
  t.is((await d.client.decrypt({ tenant: 'demo', envelope: res.envelope })).keyVersion, 2);
  const tampered = Buffer.from(env);
  tampered[tampered.length - 1]! ^= 1;
  t.is(
    (await codeOf(d.client.rewrap({ tenant: 'demo', envelope: tampered }))).details,
    'decryption failed',
    'tampered content is not vouched for',
  );
  t.is(
    (await codeOf(d.client.rewrap({ tenant: 'demo', envelope: env, targetPolicyId: 'nope' }))).code,
    grpc.status.NOT_FOUND,
  );
  t.is(
    (await codeOf(d.client.rewrap({ tenant: 'demo', envelope: env, context: { other: '1' } }))).details,
    'decryption failed',
  );
});

test.serial('concurrent changes of one policy: the optimistic revision check loses no update', async (t) => {
  await createPolicy(d.client, 'concurrent');
  const results = await Promise.allSettled([
    d.client.rotateIntermediateKey({ tenant: 'demo', id: 'concurrent' }),
    d.client.rotateIntermediateKey({ tenant: 'demo', id: 'concurrent' }),
    d.client.rotateIntermediateKey({ tenant: 'demo', id: 'concurrent' }),
  ]);
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  for (const r of results)
    if (r.status === 'rejected') t.is((r.reason as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
  const p = await d.client.getPolicy('demo', 'concurrent');
  t.is(p.versions.length, 1 + ok, 'every acknowledged rotation is there');
  t.is(p.activeVersion, 1 + ok);
});

test.serial('Rewrap moves a streamed (segmented) file to another policy by rewriting its header alone', async (t) => {
  await createPolicy(d.client, 'rw-stream-src');
  await createPolicy(d.client, 'rw-stream-dst-long-id');
  const ctx = { site: 'contoso-hr' };
  const plaintext = Buffer.alloc(300 * 1024, 7); // several 64 KiB segments
  const chunks: Buffer[] = [];
  for await (const c of d.client.encryptStream({ tenant: 'demo', policyId: 'rw-stream-src', context: ctx }, [
    plaintext,
  ]))
    chunks.push(c);
  const stored = Buffer.concat(chunks);
  const { parseSegmentedHeader } = await import('../src/crypto/segmented-format.js');
  const oldHeaderLength = parseSegmentedHeader(stored)!.bytes.length;

  // Only the header travels: the segments stay where they are stored.
  const res = await d.client.rewrap({
    tenant: 'demo',
    envelope: stored.subarray(0, 512),
    context: ctx,
    targetPolicyId: 'rw-stream-dst-long-id',
  });
  t.is(res.policyId, 'rw-stream-dst-long-id');
  t.is(res.replacedHeaderBytes, oldHeaderLength);
  const newHeaderLength = parseSegmentedHeader(res.envelope)!.bytes.length;
  t.is(newHeaderLength, oldHeaderLength + 'rw-stream-dst-long-id'.length - 'rw-stream-src'.length);
  const moved = Buffer.concat([res.envelope.subarray(0, newHeaderLength), stored.subarray(oldHeaderLength)]);

  await d.client.revoke({ tenant: 'demo', id: 'rw-stream-src' });
  const out: Buffer[] = [];
  for await (const c of d.client.decryptStream({ tenant: 'demo', context: ctx }, [moved])) out.push(c);
  t.true(Buffer.concat(out).equals(plaintext), 'decrypts under the target policy, the source being revoked');

  // A header whose wrapped data key was tampered with is refused with the generic error.
  await createPolicy(d.client, 'rw-stream-other');
  const other = await collectSegmented(d, 'rw-stream-other', ctx);
  const otherHeader = Buffer.from(other.subarray(0, parseSegmentedHeader(other)!.bytes.length));
  const inWrappedKey = otherHeader.length - 32 - 10; // v2: the wrapped key is the 40 bytes before the 32-byte header tag
  otherHeader[inWrappedKey] = otherHeader[inWrappedKey]! ^ 1;
  t.is(
    (await codeOf(d.client.rewrap({ tenant: 'demo', envelope: otherHeader, context: ctx }))).details,
    'decryption failed',
  );
});

async function collectSegmented(
  daemon: TestDaemon,
  policyId: string,
  context: Record<string, string>,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of daemon.client.encryptStream({ tenant: 'demo', policyId, context }, [Buffer.alloc(2048, 1)]))
    chunks.push(c);
  return Buffer.concat(chunks);
}

test.serial(
  'an Encrypt waiting on an unwrap while a rotation retires its version never returns an envelope that cannot be decrypted',
  async (t) => {
    // A daemon of its own that neither hedges (asks the second customer key when the first is slow) nor times
    // the held unwrap out while the rotation runs: either would start a second unwrap, which the hold below does
    // not hold, and let the Encrypts seal with version 1 before the rotation lands (whose envelopes the
    // rotation then retires, as it should). With hedgeDelayMs 1 this test fails that way.
    const d = await startTestDaemon({ hedgeDelayMs: 60_000, providerTimeoutMs: 120_000 });
    t.teardown(() => d.stop());
    await createPolicy(d.client, 'rot-race');
    await d.client.evict({ tenant: 'demo', id: 'rot-race' });
    // The unwrap the Encrypts wait on is held until the rotation below has landed (a window of the test's, not
    // of the clock's); the rotation's own unwraps (it checks its new copies) run.
    const started = d.provider.callStarted('unwrap');
    const release = d.provider.holdCalls('unwrap', true);
    let results: Array<{ ok: true; envelope: Buffer } | { ok: false; code: number }>;
    try {
      const pending = Array.from({ length: 10 }, () =>
        d.client
          .encrypt({ tenant: 'demo', policyId: 'rot-race', plaintext: Buffer.from('written during a rotation') })
          .then(
            (r) => ({ ok: true as const, envelope: r.envelope }),
            (e: grpc.ServiceError) => ({ ok: false as const, code: e.code }),
          ),
      );
      await started; // the Encrypts' unwrap has started: they now wait on version 1
      await d.client.rotateIntermediateKey({ tenant: 'demo', id: 'rot-race', minDecryptVersion: 2 });
      release();
      results = await Promise.all(pending);
    } finally {
      release();
    }
    for (const r of results) {
      if (r.ok)
        t.is(
          (await d.client.decrypt({ tenant: 'demo', envelope: r.envelope })).plaintext.toString(),
          'written during a rotation',
        );
      else t.is(r.code, grpc.status.UNAVAILABLE, 'refused with a retryable code');
    }
    t.true(
      results.some((r) => !r.ok),
      'the race was exercised: some waited on the retired version',
    );
  },
);
