/**
 * The wire scan's cost on the hot path, in process (node --import=tsx bench/wire-scan.ts [--seconds N]):
 * ns per call of the scan alone, of protobufjs's decoding alone, and of both (the deserializer the server
 * uses), for a 4 KiB Encrypt with a three-entry context; the per-call cost of the refusal interceptor; and the
 * time to refuse a 2.3 million-item DecryptBatch. A ~300 µs gRPC call is the yardstick.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { loadProto } from '../src/rpc/proto.js';
import {
  cryptoRequestLimits,
  refusalInterceptor,
  requestScanner,
  scanLimits,
  withRequestLimits,
} from '../src/server/request-limits.js';
import { compileRequestRule } from '../src/server/wire-schema.js';
import { WireRefusal } from '../src/server/wire-scan.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 2);
const settings = { maxBlockBytes: 4 * 1024 * 1024, batchMaxItems: 1024, batchMaxBytes: 4 * 1024 * 1024 };
const { definition, proto } = loadProto();
const service = proto.unwrapd.v1.Crypto.service;
const limits = cryptoRequestLimits(settings);
const wrapped = withRequestLimits(service, definition, (m) => limits[m]!, scanLimits(settings));
const scanner = (method: string) =>
  requestScanner(
    method,
    compileRequestRule(
      service[method] as unknown as protoLoader.MethodDefinition<object, object>,
      definition,
      limits[method]!.annotations,
    ),
    limits[method]!,
    scanLimits(settings),
  );

const encrypt = service.Encrypt!;
const request = encrypt.requestSerialize({
  tenant: 'contoso',
  policyId: 'mailbox-eu-1',
  plaintext: Buffer.alloc(4096, 7),
  context: { mailbox: 'alice@contoso.example', folder: 'inbox', item: '0000000123456789' },
  purpose: 'PURPOSE_USER',
  requestId: 'req-7f3a9c',
});

function nsPerCall(name: string, fn: () => unknown): number {
  for (let i = 0; i < 20_000; i++) fn(); // warm-up (JIT)
  // CPU time of this process (user + system), not wall time: on a shared machine, time spent descheduled
  // is not the scan's.
  let calls = 0;
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000; // ns
  };
  const end = cpu() + seconds * 1e9;
  const t0 = cpu();
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    calls += 1000;
    now = cpu();
  }
  const ns = (now - t0) / calls;
  console.log(`${name.padEnd(58)} ${ns.toFixed(0).padStart(8)} ns/call`);
  return ns;
}

console.log(`4 KiB Encrypt request: ${request.length} bytes`);
const scan = scanner('Encrypt');
if (scan(request) instanceof WireRefusal) throw new Error('refused');
const scanNs = nsPerCall('wire scan alone', () => scan(request));
const decodeNs = nsPerCall('protobufjs decode alone (decode + toObject)', () => encrypt.requestDeserialize(request));
nsPerCall('deserializer the server uses (scan, then decode)', () => wrapped.Encrypt!.requestDeserialize(request));

// The interceptor: what it adds to each scanned call (a ServerInterceptingCall and its listener).
const base = { start() {}, sendStatus() {} } as unknown as grpc.ServerInterceptingCallInterface; // start: drops the listener
const methodDef = {
  path: '/unwrapd.v1.Crypto/Encrypt',
  requestDeserialize: wrapped.Encrypt!.requestDeserialize,
} as unknown as grpc.ServerMethodDefinition<unknown, unknown>;
const listener = { onReceiveMetadata() {}, onReceiveMessage() {}, onReceiveHalfClose() {}, onCancel() {} };
const interceptNs = nsPerCall('refusal interceptor per call (wrap + start)', () =>
  refusalInterceptor(methodDef, base).start(listener),
);

const flood = Buffer.concat([
  Buffer.from([0x0a, 0x04, 0x64, 0x65, 0x6d, 0x6f]),
  Buffer.alloc(4_600_000).fill(Buffer.from([0x12, 0x00])),
]);
const batch = scanner('DecryptBatch');
const refusal = batch(flood);
const floodNs = nsPerCall('refusal of a 2.3 M-item DecryptBatch (4.6 MB)', () => batch(flood));
console.log(`  -> ${(refusal as WireRefusal).message}`);
console.log(
  `\nscan: ${((scanNs / decodeNs) * 100).toFixed(0)}% of the decode it precedes; scan + interceptor: ${((scanNs + interceptNs) / 1000).toFixed(2)} µs, ` +
    `${(((scanNs + interceptNs) / 300_000) * 100).toFixed(2)}% of a 300 µs call; flood refused in ${(floodNs / 1000).toFixed(1)} µs`,
);
