/**
 * What the caller identity costs an mTLS unary call: a bare grpc-js mTLS server whose handler does nothing,
 * against the same handler computing callIdentity (src/auth/peer-identity.ts), in alternating rounds on one
 * connection; prints the medians and their ratio (compare ratios, not absolute times, on a shared machine).
 *
 *   node --import=tsx bench/mtls-identity.ts
 */
import * as grpc from '@grpc/grpc-js';
import { callIdentity } from '../src/auth/peer-identity.js';
import { mtlsCa } from '../test/helpers/mtls-ca.js';

const ROUNDS = 10;
const CALLS = 300;

const bytes = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const service = {
  ping: { path: '/bench.T/Ping', requestStream: false, responseStream: false, ...bytes },
} as unknown as grpc.ServiceDefinition;

const ca = mtlsCa();
let withIdentity = false;
let last = '';
const server = new grpc.Server();
server.addService(service, {
  ping: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    if (withIdentity) last = callIdentity(call, { trustForwardedClientCert: false });
    cb(null, Buffer.alloc(0));
  },
});
const creds = grpc.ServerCredentials.createSsl(
  Buffer.from(ca.caPem),
  [{ cert_chain: Buffer.from(ca.server.certPem), private_key: Buffer.from(ca.server.keyPem) }],
  true,
);
const port = await new Promise<number>((res, rej) =>
  server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))),
);
const Client = grpc.makeGenericClientConstructor(service, 'T');
const client = new Client(
  `127.0.0.1:${port}`,
  grpc.credentials.createSsl(Buffer.from(ca.caPem), Buffer.from(ca.spiffe.keyPem), Buffer.from(ca.spiffe.certPem)),
) as unknown as {
  ping(req: Buffer, cb: (err: Error | null) => void): void;
  close(): void;
};
const one = () => new Promise<void>((res, rej) => client.ping(Buffer.alloc(0), (e) => (e ? rej(e) : res())));
const round = async (n: number) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await one();
  return Number(process.hrtime.bigint() - t0) / n / 1000;
};
await round(500);
const without: number[] = [];
const withId: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  withIdentity = false;
  without.push(await round(CALLS));
  withIdentity = true;
  withId.push(await round(CALLS));
}
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
console.log(
  `mTLS unary p50 of ${ROUNDS} rounds x ${CALLS}: without identity ${median(without).toFixed(0)} µs, with callIdentity ${median(withId).toFixed(0)} µs, ratio ${(median(withId) / median(without)).toFixed(3)} (${last})`,
);
client.close();
server.forceShutdown();
