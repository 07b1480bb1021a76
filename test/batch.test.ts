import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Small limits so that they are cheap to reach: 1 KiB blocks, 64 items, 16 KiB per batch.
let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({
    hedgeDelayMs: 60_000,
    maxBlockBytes: 1024,
    batchMaxItems: 64,
    batchMaxBytes: 16 * 1024,
    callerRoles: 'user',
  });
  await createPolicy(d.client, 'mail');
  await createPolicy(d.client, 'mail-2');
});
test.after.always(async () => {
  await d?.stop();
});

const DECRYPTION_FAILED = {
  code: grpc.status.INVALID_ARGUMENT,
  message: 'decryption failed',
  reason: 'DECRYPTION_FAILED',
};

/** An item error's code, message and reason (its status repeats the first two: checked once here). */
function brief(e: {
  code: number;
  message: string;
  reason?: string;
  status: { code: number; message: string } | null;
}) {
  if (e.status?.code !== e.code || e.status.message !== e.message) throw new Error('status differs from code/message');
  return { code: e.code, message: e.message, reason: e.reason };
}

async function encryptOne(policyId: string, plaintext: Buffer, context: Record<string, string> = {}): Promise<Buffer> {
  return (await d.client.encrypt({ tenant: 'demo', policyId, plaintext, context })).envelope;
}

test.serial('batch round trip: every item with its own context comes back in order', async (t) => {
  const items = Array.from({ length: 40 }, (_, i) => ({
    plaintext: randomBytes(i * 10),
    context: { mailbox: 'alice', item: String(i) },
  }));
  const enc = await d.client.encryptBatch({ tenant: 'demo', policyId: 'mail', items });
  t.is(enc.results.length, 40);
  const envelopes = enc.results.map((r) => r.ok!.envelope);
  t.true(enc.results.every((r) => r.result === 'ok' && r.ok!.keyVersion === 1));
  // Each item is an ordinary envelope: unary Decrypt opens it with its context.
  t.true(
    (await d.client.decrypt({ tenant: 'demo', envelope: envelopes[7]!, context: items[7]!.context })).plaintext.equals(
      items[7]!.plaintext,
    ),
  );
  const dec = await d.client.decryptBatch({
    tenant: 'demo',
    items: envelopes.map((envelope, i) => ({ envelope, context: items[i]!.context })),
  });
  t.is(dec.results.length, 40);
  dec.results.forEach((r, i) => {
    t.is(r.result, 'ok');
    t.true(r.ok!.plaintext.equals(items[i]!.plaintext));
    t.is(r.ok!.policyId, 'mail');
  });
  t.deepEqual(
    (await d.client.encryptBatch({ tenant: 'demo', policyId: 'mail', items: [] })).results,
    [],
    'an empty batch is an empty answer',
  );
});

test.serial(
  'batch with mixed good and bad items: each bad item fails alone with its code, the others succeed',
  async (t) => {
    const good = [Buffer.from('first'), Buffer.from('second'), Buffer.from('third')];
    const enc = await d.client.encryptBatch({
      tenant: 'demo',
      policyId: 'mail',
      items: [
        { plaintext: good[0]!, context: { m: '1' } },
        { plaintext: Buffer.alloc(1025) }, // over the 1 KiB block limit
        { plaintext: good[1]!, context: { '': 'empty key' } }, // invalid context
        { plaintext: good[2]! },
      ],
    });
    t.deepEqual(
      enc.results.map((r) => r.result),
      ['ok', 'error', 'error', 'ok'],
    );
    t.deepEqual(brief(enc.results[1]!.error!), {
      code: grpc.status.INVALID_ARGUMENT,
      message: 'plaintext is 1025 bytes; the largest block is 1024 bytes (use EncryptStream for larger content)',
      reason: 'LIMIT_EXCEEDED',
    });
    t.deepEqual(enc.results[1]!.error!.errorInfo?.metadata, { limit: 'maxBlockBytes', limit_value: '1024' });
    t.is(enc.results[2]!.error!.code, grpc.status.INVALID_ARGUMENT);
    t.regex(enc.results[2]!.error!.message, /encryption context key #1 is 0 bytes/);
    t.is(enc.results[2]!.error!.reason, 'INVALID_CONTEXT');

    const ok0 = enc.results[0]!.ok!.envelope;
    const ok3 = enc.results[3]!.ok!.envelope;
    const tampered = Buffer.from(ok3);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    await createPolicy(d.client, 'mail-revoked');
    const revokedEnvelope = await encryptOne('mail-revoked', Buffer.from('gone'));
    await d.client.revoke({ tenant: 'demo', id: 'mail-revoked' });
    const otherTenantEnvelope = Buffer.from(ok3);
    otherTenantEnvelope.write('dem0', 6, 'latin1'); // the envelope's tenant no longer matches the request's
    const fromMail2 = await encryptOne('mail-2', Buffer.from('other policy'));

    const dec = await d.client.decryptBatch({
      tenant: 'demo',
      items: [
        { envelope: ok0, context: { m: '1' } }, // good
        { envelope: tampered }, // tag fails
        { envelope: Buffer.from('not an envelope') }, // parse fails
        { envelope: Buffer.alloc(0) }, // missing
        { envelope: ok0, context: { m: '2' } }, // wrong context
        { envelope: revokedEnvelope }, // its policy is revoked
        { envelope: otherTenantEnvelope },
        { envelope: ok3 }, // good
        { envelope: fromMail2 }, // good, another policy in the same batch
        { envelope: ok0, context: { '': 'x' } }, // invalid context
      ],
    });
    const outcome = dec.results.map((r) => (r.result === 'ok' ? r.ok!.plaintext.toString() : brief(r.error!)));
    t.deepEqual(outcome, [
      'first',
      DECRYPTION_FAILED,
      DECRYPTION_FAILED,
      { code: grpc.status.INVALID_ARGUMENT, message: 'envelope is required', reason: 'INVALID_REQUEST' },
      DECRYPTION_FAILED,
      {
        code: grpc.status.FAILED_PRECONDITION,
        message: 'policy demo/mail-revoked is revoked',
        reason: 'POLICY_REVOKED',
      },
      DECRYPTION_FAILED,
      'third',
      'other policy',
      outcome[9],
    ]);
    t.is((outcome[9] as { code: number }).code, grpc.status.INVALID_ARGUMENT);
  },
);

test.serial(
  'batch: request-level problems fail the whole call (unknown or revoked policy, bad tenant, permission)',
  async (t) => {
    const items = [{ plaintext: Buffer.from('x') }];
    t.deepEqual(await codeOf(d.client.encryptBatch({ tenant: 'demo', policyId: 'nope', items })), {
      code: grpc.status.NOT_FOUND,
      details: 'no policy demo/nope',
    });
    t.deepEqual(await codeOf(d.client.encryptBatch({ tenant: 'demo', policyId: 'mail-revoked', items })), {
      code: grpc.status.FAILED_PRECONDITION,
      details: 'policy demo/mail-revoked is revoked',
    });
    t.is(
      (await codeOf(d.client.encryptBatch({ tenant: '', policyId: 'mail', items }))).code,
      grpc.status.INVALID_ARGUMENT,
    );
    t.is(
      (await codeOf(d.client.decryptBatch({ tenant: 'demo', items: [], purpose: 'PURPOSE_SYSTEM' }))).code,
      grpc.status.PERMISSION_DENIED,
    );
  },
);

test.serial('batch limits are enforced with a clear error: items per call and bytes per call', async (t) => {
  // Refused on the wire, before decoding (src/server/request-limits.ts): RESOURCE_EXHAUSTED naming the limit.
  const tooMany = Array.from({ length: 65 }, () => ({ plaintext: Buffer.from('x') }));
  t.deepEqual(await codeOf(d.client.encryptBatch({ tenant: 'demo', policyId: 'mail', items: tooMany })), {
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: 'EncryptBatch: 65 or more items exceed batchMaxItems (64)',
  });
  const tooBig = Array.from({ length: 17 }, () => ({ plaintext: Buffer.alloc(1000) })); // 17000 > 16384
  t.deepEqual(await codeOf(d.client.encryptBatch({ tenant: 'demo', policyId: 'mail', items: tooBig })), {
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: 'EncryptBatch: 17000 plaintext bytes exceed 16384 (batchMaxBytes)',
  });
  t.deepEqual(
    await codeOf(d.client.decryptBatch({ tenant: 'demo', items: tooMany.map(() => ({ envelope: Buffer.from('x') })) })),
    {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: 'DecryptBatch: 65 or more items exceed batchMaxItems (64)',
    },
  );
  // Exactly at both limits: 64 items, 16384 bytes. What one EncryptBatch produced fits one DecryptBatch.
  const full = Array.from({ length: 64 }, (_, i) => ({ plaintext: Buffer.alloc(256, i) }));
  const enc = await d.client.encryptBatch({ tenant: 'demo', policyId: 'mail', items: full });
  t.true(enc.results.every((r) => r.result === 'ok'));
  const dec = await d.client.decryptBatch({
    tenant: 'demo',
    items: enc.results.map((r) => ({ envelope: r.ok!.envelope })),
  });
  t.true(dec.results.every((r, i) => r.result === 'ok' && r.ok!.plaintext.equals(full[i]!.plaintext)));
  const padded = enc.results.map((r) => ({ envelope: Buffer.concat([r.ok!.envelope, Buffer.alloc(300)]) }));
  const err = await codeOf(d.client.decryptBatch({ tenant: 'demo', items: padded }));
  t.is(err.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(err.details, /^DecryptBatch: \d+ envelope bytes exceed 31808 \(batchMaxBytes 16384 \+ 241 per item\)$/);
});

test.serial(
  'batch: all items of a policy version share one key: a cold batch costs one provider unwrap per policy',
  async (t) => {
    const a = await d.client.encryptBatch({
      tenant: 'demo',
      policyId: 'mail',
      items: Array.from({ length: 30 }, () => ({ plaintext: Buffer.from('a') })),
    });
    const b = await d.client.encryptBatch({
      tenant: 'demo',
      policyId: 'mail-2',
      items: Array.from({ length: 30 }, () => ({ plaintext: Buffer.from('b') })),
    });
    await d.client.evict({ tenant: 'demo', id: 'mail' });
    await d.client.evict({ tenant: 'demo', id: 'mail-2' });
    d.provider.resetCounts();
    const mixed = [...a.results, ...b.results]
      .map((r, i) => ({ i, envelope: r.ok!.envelope }))
      .sort((x, y) => ((x.i * 7919) % 60) - ((y.i * 7919) % 60));
    const dec = await d.client.decryptBatch({ tenant: 'demo', items: mixed.map((m) => ({ envelope: m.envelope })) });
    t.true(dec.results.every((r) => r.result === 'ok'));
    t.is(d.provider.counts.unwrap, 2, 'one unwrap per policy for 60 items');
    await d.client.evict({ tenant: 'demo', id: 'mail' });
    d.provider.resetCounts();
    await d.client.encryptBatch({
      tenant: 'demo',
      policyId: 'mail',
      items: Array.from({ length: 64 }, () => ({ plaintext: Buffer.from('c') })),
    });
    t.is(d.provider.counts.unwrap, 1);
  },
);

test.serial('batch: a revoke between batches is honoured at once', async (t) => {
  await createPolicy(d.client, 'mail-rv');
  const enc = await d.client.encryptBatch({
    tenant: 'demo',
    policyId: 'mail-rv',
    items: [{ plaintext: Buffer.from('x') }],
  });
  await d.client.revoke({ tenant: 'demo', id: 'mail-rv' });
  const dec = await d.client.decryptBatch({ tenant: 'demo', items: [{ envelope: enc.results[0]!.ok!.envelope }] });
  t.deepEqual(brief(dec.results[0]!.error!), {
    code: grpc.status.FAILED_PRECONDITION,
    message: 'policy demo/mail-rv is revoked',
    reason: 'POLICY_REVOKED',
  });
  t.is(
    (
      await codeOf(
        d.client.encryptBatch({ tenant: 'demo', policyId: 'mail-rv', items: [{ plaintext: Buffer.from('x') }] }),
      )
    ).code,
    grpc.status.FAILED_PRECONDITION,
  );
});
