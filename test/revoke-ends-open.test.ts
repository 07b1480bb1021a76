import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_SEGMENT_BYTES } from '../src/crypto/segmented-format.js';
import { providerError } from '../src/providers/provider-error.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Revoke ends what is open: an idle stream of the policy (its key alive, nothing moving)
 * ends with FAILED_PRECONDITION at once, its key and buffers zeroized; a stream of another policy goes on; a
 * batch waiting on an unwrap of the policy is refused at once, not when the slow unwrap returns.
 */
let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ hedgeDelayMs: 60_000 });
});
test.after.always(async () => {
  await d?.stop();
});

const SEG = DEFAULT_SEGMENT_BYTES;
const ctx = { site: 'hr', object: 'idle.bin' };

/** A stream source that sends `first`, then idles until `release()` (then ends). */
function idleSource(first: Buffer[]) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let sent = false;
  async function* source() {
    for (const b of first) yield b;
    sent = true;
    await released;
  }
  return { source: source(), release, sent: () => sent };
}

/** Reads a stream to its end in the background; `received` counts bytes, `result` is its status. */
function drain(stream: AsyncIterable<Buffer>) {
  const state = { received: 0, result: undefined as undefined | Promise<{ code: number; details: string } | 'ok'> };
  state.result = (async () => {
    try {
      for await (const b of stream) state.received += b.length;
      return 'ok' as const;
    } catch (err) {
      const e = err as grpc.ServiceError;
      return { code: e.code, details: e.details };
    }
  })();
  return state;
}

/**
 * Resolves once `check` holds, checked every millisecond (bounded by the test's timeout); not every turn of the
 * event loop, which spins a core the daemon and other tests need.
 */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

test.serial(
  'Revoke ends an idle EncryptStream and an idle DecryptStream of the policy at once; a stream of another policy goes on',
  async (t) => {
    await createPolicy(d.client, 'idle');
    await createPolicy(d.client, 'other');
    const content = Buffer.alloc(3 * SEG + 100, 7);
    const parts: Buffer[] = [];
    for await (const b of d.client.encryptStream({ tenant: 'demo', policyId: 'idle', context: ctx }, [content]))
      parts.push(b);
    const envelope = Buffer.concat(parts);
    const base = d.daemon.streams.stats().liveKeys;

    // DecryptStream: the header and the first segment, then idle (its content key is alive).
    const decIn = idleSource([envelope.subarray(0, Math.floor(envelope.length / 2))]);
    const dec = drain(d.client.decryptStream({ tenant: 'demo', context: ctx }, decIn.source));
    // EncryptStream of the policy: one chunk, then idle.
    const encIn = idleSource([Buffer.alloc(100, 1)]);
    const enc = drain(d.client.encryptStream({ tenant: 'demo', policyId: 'idle', context: ctx }, encIn.source));
    // EncryptStream of another policy: idle too, and must survive.
    const otherIn = idleSource([Buffer.alloc(100, 2)]);
    const other = drain(d.client.encryptStream({ tenant: 'demo', policyId: 'other', context: ctx }, otherIn.source));
    await until(
      () =>
        dec.received > 0 && enc.received > 0 && other.received > 0 && d.daemon.streams.stats().liveKeys === base + 3,
    );

    await d.client.revoke({ tenant: 'demo', id: 'idle', reason: 'customer revoked' });
    // Both streams of the policy end by themselves, though their clients send nothing more.
    const [decResult, encResult] = await Promise.all([dec.result, enc.result]);
    t.deepEqual(decResult, { code: grpc.status.FAILED_PRECONDITION, details: 'policy demo/idle is revoked' });
    t.deepEqual(encResult, { code: grpc.status.FAILED_PRECONDITION, details: 'policy demo/idle is revoked' });
    const stats = d.daemon.streams.stats();
    t.is(stats.liveKeys, base + 1, "only the other policy's stream holds a key");
    t.is(stats.open, base + 1);

    // The other policy's stream goes on and completes.
    otherIn.release();
    t.is(await other.result, 'ok');
    decIn.release();
    encIn.release();
    await until(() => d.daemon.streams.stats().open === 0);
    t.is(d.daemon.streams.stats().liveKeys, 0);
    t.is(d.daemon.crypto.leases.openHolders, 0, 'nothing of the policy is held open');
  },
);

test.serial(
  'Revoke refuses a DecryptBatch waiting on a slow unwrap of the policy at once, not when the unwrap returns',
  async (t) => {
    await createPolicy(d.client, 'batch-wait');
    const { envelope } = await d.client.encrypt({
      tenant: 'demo',
      policyId: 'batch-wait',
      plaintext: Buffer.from('mail'),
    });
    await d.client.evict({ tenant: 'demo', id: 'batch-wait' });
    let releaseUnwrap!: () => void;
    const unwrapHeld = new Promise<void>((r) => (releaseUnwrap = r));
    let unwrapsStarted = 0;
    // The unwrap hangs until released: the batch can only end early if the revocation ends its wait.
    d.provider.latencyFor = (op) => (op === 'unwrap' ? (unwrapsStarted++, 60_000) : undefined);
    try {
      const batch = codeOf(
        d.client.decryptBatch({ tenant: 'demo', items: [{ envelope }] }).then((r) => {
          // A per-item failure is reported in the item: surface it as the call's status for the assertion.
          const item = r.results[0]!;
          if (item.error)
            throw Object.assign(new Error(item.error.message), { code: item.error.code, details: item.error.message });
          return r;
        }),
      );
      await until(() => unwrapsStarted > 0);
      await d.client.revoke({ tenant: 'demo', id: 'batch-wait' });
      const result = await batch;
      t.is(result.code, grpc.status.FAILED_PRECONDITION);
      t.regex(result.details, /revoked/);
    } finally {
      d.provider.latencyFor = undefined;
      releaseUnwrap();
      void unwrapHeld;
    }
  },
);

test.serial(
  'a customer key the provider reports revoked ends the open streams of the policy, though its recorded state is still active',
  async (t) => {
    await createPolicy(d.client, 'vault-revoked');
    const content = Buffer.alloc(3 * SEG + 100, 9);
    const parts: Buffer[] = [];
    for await (const b of d.client.encryptStream({ tenant: 'demo', policyId: 'vault-revoked', context: ctx }, [
      content,
    ]))
      parts.push(b);
    const envelope = Buffer.concat(parts);
    const base = d.daemon.streams.stats().liveKeys;
    const decIn = idleSource([envelope.subarray(0, Math.floor(envelope.length / 2))]);
    const dec = drain(d.client.decryptStream({ tenant: 'demo', context: ctx }, decIn.source));
    await until(() => dec.received > 0 && d.daemon.streams.stats().liveKeys === base + 1);

    // The customer disables both keys at the vault: the next unwrap (after an Evict) says revoked.
    await d.client.evict({ tenant: 'demo', id: 'vault-revoked' });
    d.provider.fail = (op, uri) =>
      op === 'unwrap' ? providerError('key_disabled', uri, 'injected: disabled at the vault') : undefined;
    try {
      t.is(
        (await codeOf(d.client.encrypt({ tenant: 'demo', policyId: 'vault-revoked', plaintext: Buffer.from('x') })))
          .code,
        grpc.status.FAILED_PRECONDITION,
      );
      const result = await dec.result;
      t.is(result !== 'ok' && result?.code, grpc.status.FAILED_PRECONDITION);
      t.regex(result !== 'ok' && result ? result.details : '', /customer key revoked/);
      t.is(d.daemon.streams.stats().liveKeys, base, 'the stream key is gone');
      t.is(
        (await d.client.getPolicy('demo', 'vault-revoked')).state,
        'POLICY_STATE_ACTIVE',
        'the recorded state did not change',
      );
    } finally {
      d.provider.fail = undefined;
      decIn.release();
    }
  },
);
