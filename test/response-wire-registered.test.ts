import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { startTestDaemon } from './helpers/test-daemon.js';

// The Crypto service the daemon registers with grpc-js encodes stream segments and batch results given in
// parts (src/server/response-wire.ts): without those encoders protobufjs would write an array field as nothing.
// Its own test process: grpc.Server's addService is wrapped to see what the daemon registers.

test('the daemon registers Crypto with the response encoders of its stream and batch methods', async (t) => {
  const registered: grpc.ServiceDefinition[] = [];
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (this: grpc.Server, service, implementation) {
    registered.push(service);
    return addService.call(this, service, implementation);
  };
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  try {
    d = await startTestDaemon();
  } finally {
    grpc.Server.prototype.addService = addService;
  }
  t.teardown(() => d.stop());
  const crypto = registered.find((s) => 'EncryptStream' in s) as
    Record<string, grpc.MethodDefinition<unknown, unknown>> | undefined;
  if (!crypto) return t.fail('no Crypto service registered');
  const [ct, tag] = [Buffer.from('ciphertext'), Buffer.from('tag')];
  const joined = Buffer.concat([ct, tag]);
  const roundTrip = (method: string, msg: unknown) => {
    const m = crypto[method]!;
    return m.responseDeserialize(m.responseSerialize(msg)) as Record<string, unknown>;
  };
  t.deepEqual(roundTrip('EncryptStream', { data: [ct, tag], keyVersion: 2 }).data, joined);
  t.deepEqual(roundTrip('DecryptStream', { plaintext: [ct, tag], policyId: 'p', keyVersion: 2 }).plaintext, joined);
  const enc = roundTrip('EncryptBatch', { results: [{ ok: { envelope: [ct, tag], keyVersion: 2 } }] });
  t.deepEqual((enc.results as { ok: { envelope: Buffer } }[])[0]!.ok.envelope, joined);
  const dec = roundTrip('DecryptBatch', { results: [{ ok: { plaintext: [ct, tag], policyId: 'p', keyVersion: 2 } }] });
  t.deepEqual((dec.results as { ok: { plaintext: Buffer } }[])[0]!.ok.plaintext, joined);
});
