import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
let envelope: Buffer;
const ctx = { mailbox: 'alice' };
test.before(async () => {
  d = await startTestDaemon({ providerTimeoutMs: 5_000 });
  await createPolicy(d.client, 'second-12chr'); // as long as 'demo-mailbox', so ids can be swapped in place
  envelope = (
    await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('hello'), context: ctx })
  ).envelope;
});
test.after.always(async () => {
  await d?.stop();
});

test.serial('encrypt under an unknown policy gives NOT_FOUND', async (t) => {
  const err = await codeOf(d.client.encrypt({ tenant: 'demo', policyId: 'nope', plaintext: Buffer.from('x') }));
  t.is(err.code, grpc.status.NOT_FOUND);
  t.is(err.details, 'no policy demo/nope');
});

test.serial('GetPolicy of an unknown policy gives NOT_FOUND', async (t) => {
  t.is((await codeOf(d.client.getPolicy('demo', 'nope'))).code, grpc.status.NOT_FOUND);
});

test.serial('missing fields give INVALID_ARGUMENT naming the field', async (t) => {
  const noTenant = await codeOf(d.client.encrypt({ policyId: 'demo-mailbox', plaintext: Buffer.from('x') }));
  t.is(noTenant.code, grpc.status.INVALID_ARGUMENT);
  t.is(noTenant.details, 'tenant is required');
  const noPolicy = await codeOf(d.client.encrypt({ tenant: 'demo', plaintext: Buffer.from('x') }));
  t.is(noPolicy.code, grpc.status.INVALID_ARGUMENT);
  t.is(noPolicy.details, 'policy_id is required');
  const noEnvelope = await codeOf(d.client.decrypt({ tenant: 'demo' }));
  t.is(noEnvelope.code, grpc.status.INVALID_ARGUMENT);
  t.is(noEnvelope.details, 'envelope is required');
});

test.serial('malformed identifiers and context give INVALID_ARGUMENT', async (t) => {
  t.is(
    (await codeOf(d.client.encrypt({ tenant: '../etc', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }))).code,
    grpc.status.INVALID_ARGUMENT,
  );
  t.is(
    (
      await codeOf(
        d.client.encrypt({
          tenant: 'demo',
          policyId: 'demo-mailbox',
          plaintext: Buffer.from('x'),
          context: { '': 'v' },
        }),
      )
    ).code,
    grpc.status.INVALID_ARGUMENT,
  );
  t.is(
    (
      await codeOf(
        d.client.encrypt({
          tenant: 'demo',
          policyId: 'demo-mailbox',
          plaintext: Buffer.from('x'),
          context: { k: 'v'.repeat(5000) },
        }),
      )
    ).code,
    grpc.status.INVALID_ARGUMENT,
  );
  t.is(
    (
      await codeOf(
        d.client.encrypt({
          tenant: 'demo',
          policyId: 'demo-mailbox',
          plaintext: Buffer.from('x'),
          requestId: 'bad id with spaces',
        }),
      )
    ).code,
    grpc.status.INVALID_ARGUMENT,
  );
});

test.serial('garbage bytes as an envelope give the generic INVALID_ARGUMENT', async (t) => {
  for (const garbage of [Buffer.from('x'), Buffer.from('not an envelope at all, just text'), Buffer.alloc(300, 0x55)]) {
    const err = await codeOf(d.client.decrypt({ tenant: 'demo', envelope: garbage }));
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.is(err.details, 'decryption failed');
  }
});

test.serial('decrypting under the wrong tenant gives the generic INVALID_ARGUMENT', async (t) => {
  const err = await codeOf(d.client.decrypt({ tenant: 'other-tenant', envelope, context: ctx }));
  t.is(err.code, grpc.status.INVALID_ARGUMENT);
  t.is(err.details, 'decryption failed');
});

test.serial('a changed context gives the generic error', async (t) => {
  const contexts: Array<Record<string, string>> = [{}, { mailbox: 'bob' }, { mailbox: 'alice', extra: '1' }];
  for (const context of contexts) {
    const err = await codeOf(d.client.decrypt({ tenant: 'demo', envelope, context }));
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.is(err.details, 'decryption failed');
  }
});

test.serial(
  'an envelope whose policy id is swapped for another policy of the tenant fails with the generic error',
  async (t) => {
    const swapped = Buffer.from(envelope);
    const at = swapped.indexOf('demo-mailbox');
    t.true(at > 0);
    swapped.write('second-12chr', at);
    const err = await codeOf(d.client.decrypt({ tenant: 'demo', envelope: swapped, context: ctx }));
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.is(err.details, 'decryption failed');
  },
);

test.serial('no error text carries plaintext, context values or envelope bytes', async (t) => {
  const secret = 'TOP-SECRET-PLAINTEXT';
  const errors = [
    await codeOf(d.client.decrypt({ tenant: 'demo', envelope: Buffer.from(secret), context: { m: secret } })),
    await codeOf(
      d.client.encrypt({ tenant: 'demo', policyId: 'nope', plaintext: Buffer.from(secret), context: { m: secret } }),
    ),
    await codeOf(d.client.decrypt({ tenant: 'demo', envelope, context: { mailbox: secret } })),
  ];
  for (const e of errors) t.false(e.details.includes(secret), e.details);
});

test.serial('the caller deadline is honoured while the provider hangs: DEADLINE_EXCEEDED in time', async (t) => {
  await d.client.evict({ tenant: 'demo', id: 'demo-mailbox' });
  d.provider.latencyMs = 3_000;
  try {
    const started = Date.now();
    const err = await codeOf(
      d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('x') }, { deadlineMs: 200 }),
    );
    const elapsed = Date.now() - started;
    t.is(err.code, grpc.status.DEADLINE_EXCEEDED);
    t.true(elapsed < 1_500, `answered after ${elapsed} ms`);
  } finally {
    d.provider.latencyMs = 0;
  }
});
