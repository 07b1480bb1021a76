import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { UnwrapdClient } from '../../src/client/client.js';
import type { Call } from './closed-loop.js';
import { servesCryptoFloor, type EchoClient } from './echo-service.js';
import type { NamedCall } from './interleaved-rounds.js';

/**
 * The calls of the batch section: unary Encrypt/Decrypt of one item beside EncryptBatch/DecryptBatch of
 * N items of the same size, and a unary Echo of N items' bytes (the transport cost of moving one batch).
 * Raw grpc-js calls with the same call options, as in unary-calls.ts. Each scenario's `items` says how many
 * items one call carries, so calls/s times items is items/s.
 */

export interface BatchTargets {
  crypto: UnwrapdClient;
  echo: EchoClient | undefined;
  tenant: string;
  policy: string;
  deadlineMs: number;
}

export interface ItemCall extends NamedCall {
  items: number;
}

/** The name prefix of the batch's crypto-floor scenario (bench/echo.proto SealEcho with item_bytes). */
export const SEAL_ECHO_BATCH = 'seal-echo';

function promised<T>(start: (cb: grpc.requestCallback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
}

interface BatchResults {
  results?: { result?: string; error?: { code: number; message: string } | null }[];
}

/** Fails a call whose batch came back short or with an item error (checked cheaply on every call). */
function batchDone(n: number, done: (err: Error | null) => void) {
  return (err: grpc.ServiceError | null, res?: BatchResults) => {
    if (err) return done(err);
    const results = res?.results ?? [];
    if (results.length !== n) return done(new Error(`batch answered ${results.length} of ${n} items`));
    for (const r of results)
      if (r.result !== 'ok') return done(new Error(`batch item failed: ${r.error?.message ?? '?'}`));
    done(null);
  };
}

export async function prepareBatchCalls(
  t: BatchTargets,
  itemBytes: number,
  sizes: readonly number[],
): Promise<{ encrypt: ItemCall[]; decrypt: ItemCall[] }> {
  const c = t.crypto.crypto;
  const opts = (): grpc.CallOptions => ({ deadline: Date.now() + t.deadlineMs });
  const item = randomBytes(itemBytes);
  const unaryEnc = { tenant: t.tenant, policyId: t.policy, plaintext: item };
  const single = await promised<{ envelope: Buffer }>((cb) => c.Encrypt(unaryEnc, opts(), cb));
  const unaryDec = { tenant: t.tenant, envelope: single.envelope };
  const opened = await promised<{ plaintext: Buffer }>((cb) => c.Decrypt(unaryDec, opts(), cb));
  if (!opened.plaintext.equals(item)) throw new Error('Decrypt did not return the plaintext');

  const encrypt: ItemCall[] = [
    { name: 'unary encrypt', items: 1, call: (done) => void c.Encrypt(unaryEnc, opts(), (err) => done(err)) },
  ];
  const decrypt: ItemCall[] = [
    { name: 'unary decrypt', items: 1, call: (done) => void c.Decrypt(unaryDec, opts(), (err) => done(err)) },
  ];
  for (const n of sizes) {
    const encReq = {
      tenant: t.tenant,
      policyId: t.policy,
      items: Array.from({ length: n }, () => ({ plaintext: item })),
    };
    const sealed = await promised<{ results: { ok?: { envelope: Buffer } | null }[] }>((cb) =>
      c.EncryptBatch(encReq, opts(), cb),
    );
    if (sealed.results.length !== n || sealed.results.some((r) => !r.ok))
      throw new Error(`EncryptBatch of ${n} items failed`);
    const decReq = { tenant: t.tenant, items: sealed.results.map((r) => ({ envelope: r.ok!.envelope })) };
    const back = await promised<{ results: { ok?: { plaintext: Buffer } | null }[] }>((cb) =>
      c.DecryptBatch(decReq, opts(), cb),
    );
    if (!back.results.every((r) => r.ok?.plaintext.equals(item)))
      throw new Error(`DecryptBatch of ${n} items did not round-trip`);
    const call =
      (method: 'EncryptBatch' | 'DecryptBatch', req: object): Call =>
      (done) =>
        void (c[method] as (r: object, o: grpc.CallOptions, cb: grpc.requestCallback<BatchResults>) => void)(
          req,
          opts(),
          batchDone(n, done),
        );
    encrypt.push({ name: `batch ${n} encrypt`, items: n, call: call('EncryptBatch', encReq) });
    decrypt.push({ name: `batch ${n} decrypt`, items: n, call: call('DecryptBatch', decReq) });
  }
  if (t.echo) {
    const echo = t.echo;
    // The transport of one batch: the bytes of the middle batch size, echoed as one message.
    const n = sizes[Math.floor(sizes.length / 2)]!;
    const req = { payload: randomBytes(n * itemBytes) };
    const back = await promised<{ payload?: Buffer }>((cb) => echo.Echo(req, opts(), cb));
    if (!back.payload?.equals(req.payload)) throw new Error('Echo did not return the payload');
    encrypt.push({
      name: `echo ${n}x${itemBytes} B`,
      items: n,
      call: (done) => void echo.Echo(req, opts(), (err) => done(err)),
    });
    // The batch's crypto floor: the same message, each item sealed as a block of its own and nothing else.
    if (!(await servesCryptoFloor(echo))) return { encrypt, decrypt };
    const sealReq = { payload: req.payload, itemBytes };
    const sealed = await promised<{ payload?: Buffer }>((cb) => echo.SealEcho(sealReq, opts(), cb));
    if (!sealed.payload || sealed.payload.length <= n * itemBytes) throw new Error('SealEcho returned no envelopes');
    encrypt.push({
      name: `${SEAL_ECHO_BATCH} ${n}x${itemBytes} B`,
      items: n,
      call: (done) => void echo.SealEcho(sealReq, opts(), (err) => done(err)),
    });
  }
  return { encrypt, decrypt };
}
