import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { kwpWrap } from '../src/crypto/aes-kwp.js';
import { deriveWrappingKey } from '../src/crypto/envelope.js';
import { parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { openSegmented } from '../src/crypto/segmented.js';
import type { NegativeVector } from '../scripts/vector-types.js';
import { encodeContext } from '../src/crypto/encryption-context.js';
import type { EnvelopeRef } from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// The daemon refuses what docs/envelope-format.md §3.7 refuses, with the one generic error: an unwrapped data
// key that is not exactly 32 bytes (though validly wrapped, committed and tagged under the daemon's own key),
// and an envelope of another tenant than the caller's.

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
  await createPolicy(d.client, 'other-mailbox', 'other');
});
test.after.always(async () => {
  await d?.stop();
});

const REF: EnvelopeRef = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
const ctx = { mailbox: 'alice' };

/** §3.6 by hand with a data key of any length from 25 to 32 bytes (wrapped to 40 bytes), under the daemon's KEK. */
function sealLiterally(kek: SecretKey, dataKey: Buffer, plaintext: Buffer): Buffer {
  const wrapped = kwpWrap(kek, dataKey);
  const nonce = randomBytes(12);
  const okm = Buffer.from(hkdfSync('sha256', dataKey, nonce, Buffer.from('unwrapd/v1 block keys'), 64));
  const fixed = Buffer.concat([Buffer.from([0x55, 0x57, 1, 1, 0, REF.tenant.length]), Buffer.from(REF.tenant), nonce]);
  const fixedHeader = Buffer.concat([fixed, okm.subarray(32)]);
  const wrap = Buffer.concat([
    Buffer.from([REF.policyId.length]),
    Buffer.from(REF.policyId),
    Buffer.from([0, 0, 0, REF.keyVersion, 0, 40]),
    wrapped,
  ]);
  const gcm = createCipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
  gcm.setAAD(Buffer.concat([fixedHeader, encodeContext(ctx)]));
  return Buffer.concat([fixedHeader, wrap, gcm.update(plaintext), gcm.final(), gcm.getAuthTag()]);
}

function withDaemonKek<R>(fn: (kek: SecretKey) => R): Promise<R> {
  const req = { tenant: REF.tenant, purpose: 'user' as const, requestId: '', signal: new AbortController().signal };
  return d.daemon.crypto.leases.withKey(REF, 'write', req, fn, 0);
}

test('a data key of 25 or 31 bytes under a valid KWP wrap is refused: INVALID_ARGUMENT, decryption failed', async (t) => {
  const plaintext = Buffer.from('content');
  // The construction is right: with 32 bytes the same code gives an envelope the daemon opens.
  const good = await withDaemonKek((kek) => sealLiterally(kek, randomBytes(32), plaintext));
  t.deepEqual((await d.client.decrypt({ tenant: 'demo', envelope: good, context: ctx })).plaintext, plaintext);
  for (const n of [25, 31]) {
    const envelope = await withDaemonKek((kek) => sealLiterally(kek, randomBytes(n), plaintext));
    t.is(envelope.length, good.length, 'the same layout: the wrap is 40 bytes');
    t.deepEqual(await codeOf(d.client.decrypt({ tenant: 'demo', envelope, context: ctx })), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'decryption failed',
    });
    t.deepEqual(await codeOf(d.client.rewrap({ tenant: 'demo', envelope, context: ctx, targetPolicyId: '' })), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'decryption failed',
    });
  }
});

test("an envelope of another tenant is refused for the caller's tenant, before any key is used", async (t) => {
  const { envelope } = await d.client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: randomBytes(9) });
  const unwraps = d.provider.counts.unwrap;
  for (const call of [
    d.client.decrypt({ tenant: 'other', envelope }),
    d.client.rewrap({ tenant: 'other', envelope, targetPolicyId: 'other-mailbox' }),
    d.client.decryptBatch({ tenant: 'other', items: [{ envelope }] }).then((r) => {
      throw Object.assign(new Error('item'), r.results[0]!.error ?? { code: 0, details: 'opened' });
    }),
  ])
    t.like(await codeOf(call), { code: grpc.status.INVALID_ARGUMENT });
  t.is(d.provider.counts.unwrap, unwraps, 'no key was unwrapped for it');
});

test("DecryptStream refuses a stream of another tenant, and the v2 vectors' short data keys are refused by the library", async (t) => {
  const content = [randomBytes(3000)];
  const envelope = Buffer.concat(
    await collect(d.client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox' }, content)),
  );
  t.like(await codeOf(collect(d.client.decryptStream({ tenant: 'other' }, [envelope]))), {
    code: grpc.status.INVALID_ARGUMENT,
    details: 'decryption failed',
  });
  const vectors = JSON.parse(
    readFileSync(new URL('./vectors/envelope-segmented-v2.json', import.meta.url), 'utf8'),
  ) as {
    negative: NegativeVector[];
  };
  const short = vectors.negative.filter((v) => v.rejectedBy === 'data key length');
  t.is(short.length, 2);
  for (const v of short) {
    const ik = SecretKey.copyFrom(Buffer.from(v.intermediateKey, 'hex'));
    const env = Buffer.from(v.envelope, 'hex');
    t.truthy(parseSegmentedHeader(env), 'it parses');
    t.throws(() => openSegmented(env, (ref) => deriveWrappingKey(ik, ref), v.context), {
      message: 'decryption failed',
    });
  }
});

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of stream) out.push(b);
  return out;
}
