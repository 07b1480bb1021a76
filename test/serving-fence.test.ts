/**
 * Deaf refuses: while the serving fence holds (the fleet feed lost, or the instance lease not renewed in
 * time), every Crypto path refuses with UNAVAILABLE "revocation feed lost", whatever the purpose, also for
 * content whose key is cached; once it lifts, the same calls work again. The fleet tests drive the real
 * feed; here a source stands in for it so that each path (unary, batch, stream, rewrap) is checked.
 */
import test from 'ava';
import { buffer as collect } from 'node:stream/consumers';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const UNAVAILABLE = 14;
let d: TestDaemon;
let why: string | undefined;

test.before(async () => {
  d = await startTestDaemon({ callerRoles: 'user,system,admin' });
  d.daemon.fence.add({ name: 'test-feed', fenced: () => why });
});
test.after.always(async () => {
  await d?.stop();
});

const tenant = 'demo';
const policyId = 'demo-mailbox';
const refusedAsDeaf = (err: unknown) =>
  (err as { code?: number }).code === UNAVAILABLE &&
  /revocation feed lost \(test-feed: cut off\)/.test(String((err as { details?: string }).details));

test.serial(
  'a fenced instance refuses every Crypto call with UNAVAILABLE "revocation feed lost", cached key or not, any purpose; lifted, it serves again',
  async (t) => {
    const plaintext = Buffer.from('fenced');
    const { envelope } = await d.client.encrypt({ tenant, policyId, plaintext });
    const streamed = await collect(d.client.encryptStream({ tenant, policyId }, [plaintext]));
    t.true(d.daemon.cache.stats().entries > 0, 'the key is cached');

    why = 'cut off';
    const calls: Record<string, () => Promise<unknown>> = {
      encrypt: () => d.client.encrypt({ tenant, policyId, plaintext }),
      decrypt: () => d.client.decrypt({ tenant, envelope }),
      'decrypt (system)': () => d.client.decrypt({ tenant, envelope, purpose: 'PURPOSE_SYSTEM' }),
      rewrap: () => d.client.rewrap({ tenant, envelope, targetPolicyId: '' }),
      encryptBatch: async () => {
        const res = await d.client.encryptBatch({ tenant, policyId, items: [{ plaintext }] });
        if (res.results.some((r) => r.result === 'ok')) return res;
        throw Object.assign(new Error('item refused'), {
          code: res.results[0]?.error?.code,
          details: res.results[0]?.error?.message,
        });
      },
      decryptBatch: async () => {
        const res = await d.client.decryptBatch({ tenant, items: [{ envelope }] });
        if (res.results.some((r) => r.result === 'ok')) return res;
        throw Object.assign(new Error('item refused'), {
          code: res.results[0]?.error?.code,
          details: res.results[0]?.error?.message,
        });
      },
      encryptStream: () => collect(d.client.encryptStream({ tenant, policyId }, [plaintext])),
      decryptStream: () => collect(d.client.decryptStream({ tenant }, [streamed])),
    };
    for (const [name, call] of Object.entries(calls)) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      t.true(
        err !== undefined && refusedAsDeaf(err),
        `${name} refused as deaf: ${err ? `${(err as { code?: number }).code} ${(err as { details?: string }).details}` : 'served'}`,
      );
    }

    why = undefined;
    t.is((await d.client.decrypt({ tenant, envelope })).plaintext.toString(), 'fenced');
    t.is((await collect(d.client.decryptStream({ tenant }, [streamed]))).toString(), 'fenced');
  },
);
