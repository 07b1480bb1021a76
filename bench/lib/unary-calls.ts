import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { UnwrapdClient } from '../../src/client/client.js';
import type { Call } from './closed-loop.js';
import { servesCryptoFloor, type EchoClient } from './echo-service.js';
import type { Scenario } from './options.js';

/**
 * The calls of the unary benchmark, on raw grpc-js clients with identical call options (a deadline of the
 * same length on every call, no metadata), so the client side costs the same for echo and unwrapd and the
 * difference is the server's.
 */

export interface UnaryTargets {
  crypto: UnwrapdClient | undefined;
  /** The daemon with the 1,000-identity authorization table (scenario encrypt-1k-table). */
  cryptoTable?: UnwrapdClient | undefined;
  /** The daemon with telemetry on (scenarios encrypt-otel, decrypt-otel). */
  cryptoOtel?: UnwrapdClient | undefined;
  echo: EchoClient | undefined;
  tenant: string;
  policy: string;
  deadlineMs: number;
}

/** Distinct envelopes the Decrypt scenario cycles through (a power of two). */
const ENVELOPES = 64;

function promised<T>(start: (cb: grpc.requestCallback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
}

/**
 * Prepares the calls for one payload size: warms the key cache with one Encrypt, produces the envelopes
 * Decrypt will open, and checks once that each call does what it should (round trip and echo intact).
 */
export async function prepareUnaryCalls(
  t: UnaryTargets,
  payloadBytes: number,
  scenarios: readonly Scenario[],
): Promise<{ name: Scenario; call: Call }[]> {
  const plaintext = randomBytes(payloadBytes);
  const opts = (): grpc.CallOptions => ({ deadline: Date.now() + t.deadlineMs });
  const encryptReq = { tenant: t.tenant, policyId: t.policy, plaintext };

  // Encrypts the Decrypt scenario's envelopes; the first call also loads the key into the cache.
  const envelopesOf = async (client: UnwrapdClient) => {
    const reqs: { tenant: string; envelope: Buffer }[] = [];
    const crypto = client.crypto;
    for (let i = 0; i < ENVELOPES; i++) {
      const res = await promised<{ envelope?: Buffer }>((cb) => crypto.Encrypt(encryptReq, opts(), cb));
      if (!res.envelope || res.envelope.length <= payloadBytes) throw new Error('Encrypt returned no envelope');
      reqs.push({ tenant: t.tenant, envelope: res.envelope });
    }
    const opened = await promised<{ plaintext?: Buffer }>((cb) => crypto.Decrypt(reqs[0]!, opts(), cb));
    if (!opened.plaintext?.equals(plaintext))
      throw new Error('Decrypt did not return the plaintext that was encrypted');
    return reqs;
  };
  let decryptReqs: { tenant: string; envelope: Buffer }[] = [];
  if (scenarios.includes('encrypt') || scenarios.includes('decrypt')) {
    if (!t.crypto) throw new Error('encrypt and decrypt scenarios without an unwrapd');
    decryptReqs = await envelopesOf(t.crypto);
  }
  let otelReqs: { tenant: string; envelope: Buffer }[] = [];
  if (scenarios.includes('encrypt-otel') || scenarios.includes('decrypt-otel')) {
    if (!t.cryptoOtel) throw new Error('the *-otel scenarios need the daemon with telemetry on');
    otelReqs = await envelopesOf(t.cryptoOtel);
  }
  if (scenarios.includes('encrypt-1k-table')) {
    if (!t.cryptoTable) throw new Error('the encrypt-1k-table scenario needs the daemon with the table');
    const table = t.cryptoTable.crypto;
    await promised<{ envelope?: Buffer }>((cb) => table.Encrypt(encryptReq, opts(), cb)); // loads the key
  }
  const echoReq = { payload: plaintext };
  if (scenarios.includes('echo')) {
    if (!t.echo) throw new Error('echo scenario without an echo server');
    const echoed = await promised<{ payload?: Buffer }>((cb) => t.echo!.Echo(echoReq, opts(), cb));
    if (!echoed.payload?.equals(plaintext)) throw new Error('Echo did not return the payload');
  }
  // The crypto floor's envelopes for OpenEcho, sealed by SealEcho (which the first one checks round-trips).
  const openEchoReqs: { payload: Buffer }[] = [];
  const floor = scenarios.includes('seal-echo') || scenarios.includes('open-echo');
  if (floor && !t.echo) throw new Error('seal-echo and open-echo scenarios without an echo server');
  const echo = floor ? t.echo : undefined;
  if (echo && (await servesCryptoFloor(echo))) {
    for (let i = 0; i < ENVELOPES; i++) {
      const sealed = await promised<{ payload?: Buffer }>((cb) => echo.SealEcho(echoReq, opts(), cb));
      if (!sealed.payload || sealed.payload.length <= payloadBytes) throw new Error('SealEcho returned no envelope');
      openEchoReqs.push({ payload: sealed.payload });
    }
    const opened = await promised<{ payload?: Buffer }>((cb) => echo.OpenEcho(openEchoReqs[0]!, opts(), cb));
    if (!opened.payload?.equals(plaintext)) throw new Error('OpenEcho did not return what SealEcho sealed');
  } else {
    scenarios = scenarios.filter((s) => s !== 'seal-echo' && s !== 'open-echo');
  }

  const calls: Record<Scenario, Call> = {
    echo: (done) => void t.echo!.Echo(echoReq, { deadline: Date.now() + t.deadlineMs }, (err) => done(err)),
    'seal-echo': (done) => void t.echo!.SealEcho(echoReq, { deadline: Date.now() + t.deadlineMs }, (err) => done(err)),
    'open-echo': (() => {
      let i = 0;
      return (done) =>
        void t.echo!.OpenEcho(openEchoReqs[i++ & (ENVELOPES - 1)]!, { deadline: Date.now() + t.deadlineMs }, (err) =>
          done(err),
        );
    })(),
    encrypt: (done) =>
      void t.crypto!.crypto.Encrypt(encryptReq, { deadline: Date.now() + t.deadlineMs }, (err) => done(err)),
    'encrypt-1k-table': (done) =>
      void t.cryptoTable!.crypto.Encrypt(encryptReq, { deadline: Date.now() + t.deadlineMs }, (err) => done(err)),
    decrypt: (() => {
      let i = 0;
      return (done) =>
        void t.crypto!.crypto.Decrypt(
          decryptReqs[i++ & (ENVELOPES - 1)]!,
          { deadline: Date.now() + t.deadlineMs },
          (err) => done(err),
        );
    })(),
    'encrypt-otel': (done) =>
      void t.cryptoOtel!.crypto.Encrypt(encryptReq, { deadline: Date.now() + t.deadlineMs }, (err) => done(err)),
    'decrypt-otel': (() => {
      let i = 0;
      return (done) =>
        void t.cryptoOtel!.crypto.Decrypt(
          otelReqs[i++ & (ENVELOPES - 1)]!,
          { deadline: Date.now() + t.deadlineMs },
          (err) => done(err),
        );
    })(),
  };
  return scenarios.map((name) => ({ name, call: calls[name] }));
}

/** Cache misses and provider unwraps so far (to prove a run was all cache hits); undefined if not allowed. */
export async function cacheCounters(client: UnwrapdClient): Promise<{ misses: number; unwraps: number } | undefined> {
  try {
    const s = await client.getStatus({ deadlineMs: 5_000 });
    return { misses: Number(s.cacheMisses), unwraps: Number(s.providerUnwraps) };
  } catch {
    return undefined;
  }
}
