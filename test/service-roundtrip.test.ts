import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});

const ctx = { mailbox: 'alice@contoso.example', item: '42' };

for (const [label, size] of [
  ['0 B', 0],
  ['1 B', 1],
  ['4 KiB', 4096],
  ['1 MiB', 1024 * 1024],
] as const) {
  test.serial(`encrypt then decrypt round-trips ${label} over the Unix socket`, async (t) => {
    const plaintext = randomBytes(size);
    const enc = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext, context: ctx });
    t.is(enc.keyVersion, 1);
    t.true(enc.envelope.length > size);
    const dec = await d.client.decrypt({ tenant: 'demo', envelope: enc.envelope, context: ctx });
    t.true(dec.plaintext.equals(plaintext));
    t.is(dec.policyId, 'demo-mailbox');
    t.is(dec.keyVersion, 1);
  });
}

test.serial('the largest allowed block round-trips', async (t) => {
  const plaintext = randomBytes(d.config.maxBlockBytes);
  const enc = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext, context: ctx });
  const dec = await d.client.decrypt({ tenant: 'demo', envelope: enc.envelope, context: ctx });
  t.true(dec.plaintext.equals(plaintext));
});

test.serial('one byte over the block limit is refused with a clear message and the server keeps serving', async (t) => {
  const max = d.config.maxBlockBytes;
  const err = await codeOf(
    d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.alloc(max + 1), context: ctx }),
  );
  t.is(err.code, grpc.status.INVALID_ARGUMENT);
  t.is(
    err.details,
    `plaintext is ${max + 1} bytes; the largest block is ${max} bytes (use EncryptStream for larger content)`,
  );
  const enc = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('still here'),
    context: ctx,
  });
  const dec = await d.client.decrypt({ tenant: 'demo', envelope: enc.envelope, context: ctx });
  t.is(dec.plaintext.toString(), 'still here');
});

test.serial('two encryptions of the same block give different envelopes (fresh data key and nonce)', async (t) => {
  const plaintext = Buffer.from('same content');
  const a = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext });
  const b = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext });
  t.false(a.envelope.equals(b.envelope));
});

test.serial('the envelope does not contain the plaintext', async (t) => {
  const plaintext = Buffer.from('a very recognisable secret sentence that must not appear in the envelope');
  const enc = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext });
  t.is(enc.envelope.indexOf(plaintext.subarray(0, 16)), -1);
});
