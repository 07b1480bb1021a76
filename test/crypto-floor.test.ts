import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEchoClient,
  echoServiceDefinition,
  servesCryptoFloor,
  startEchoServer,
  type EchoClient,
  type EchoMessage,
} from '../bench/lib/echo-service.js';
import { parseEnvelope } from '../src/crypto/envelope.js';

// The benchmarks' crypto floor (bench/echo.proto SealEcho, OpenEcho and their streams): the echo plus the
// format's crypto, over a real socket. A floor that skipped a step (one data key for many blocks, no tag) would
// make every target's floor claim false, so each RPC is checked to do the work an Encrypt or Decrypt does.

const dir = mkdtempSync(join(tmpdir(), 'uwd-floor-'));
const server = await startEchoServer(`unix://${join(dir, 'echo.sock')}`, 8 * 1024 * 1024);
const client = createEchoClient(server.address, 8 * 1024 * 1024);

test.after.always(async () => {
  client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function unary(method: 'SealEcho' | 'OpenEcho', req: EchoMessage): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    (client[method] as EchoClient['SealEcho'])(req, { deadline: Date.now() + 30_000 }, (err, res) =>
      err ? reject(err) : resolve(res!.payload ?? Buffer.alloc(0)),
    ),
  );
}

function stream(method: 'SealEchoStream' | 'OpenEchoStream', messages: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const call = client[method]();
    const parts: Buffer[] = [];
    call.on('data', (m: EchoMessage) => parts.push(Buffer.from(m.payload ?? Buffer.alloc(0))));
    call.on('error', reject);
    call.on('end', () => resolve(Buffer.concat(parts)));
    for (const payload of messages) call.write({ payload });
    call.end();
  });
}

test('SealEcho seals a block under a fresh data key each time, and OpenEcho opens it', async (t) => {
  const plaintext = Buffer.from('a block of mail, sealed by the floor');
  const a = await unary('SealEcho', { payload: plaintext });
  const b = await unary('SealEcho', { payload: plaintext });
  t.false(a.includes(plaintext));
  t.notDeepEqual(parseEnvelope(a).wrappedKey, parseEnvelope(b).wrappedKey);
  t.deepEqual(await unary('OpenEcho', { payload: a }), plaintext);
  t.deepEqual(await unary('OpenEcho', { payload: b }), plaintext);
});

test('SealEcho with item_bytes seals each item as an envelope of its own', async (t) => {
  const items = [Buffer.alloc(4096, 1), Buffer.alloc(4096, 2), Buffer.alloc(4096, 3)];
  const sealed = await unary('SealEcho', { payload: Buffer.concat(items), itemBytes: 4096 });
  const one = sealed.length / items.length;
  t.true(Number.isInteger(one) && one > 4096);
  const opened = await Promise.all(
    items.map((_, i) => unary('OpenEcho', { payload: sealed.subarray(i * one, (i + 1) * one) })),
  );
  t.deepEqual(opened, items);
  const keys = items.map((_, i) => parseEnvelope(sealed.subarray(i * one, (i + 1) * one)).wrappedKey.toString('hex'));
  t.is(new Set(keys).size, items.length);
});

test('OpenEcho refuses an envelope whose tag does not verify', async (t) => {
  const sealed = await unary('SealEcho', { payload: Buffer.alloc(64, 7) });
  sealed[sealed.length - 1]! ^= 1;
  const err = await t.throwsAsync(unary('OpenEcho', { payload: sealed }));
  t.is((err as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
});

test('SealEchoStream seals a stream in segments that OpenEchoStream opens, across message boundaries', async (t) => {
  const content = Buffer.alloc(200 * 1024);
  for (let i = 0; i < content.length; i++) content[i] = (i * 31) & 0xff;
  const messages = [
    content.subarray(0, 64 * 1024),
    content.subarray(64 * 1024, 150 * 1024),
    content.subarray(150 * 1024),
  ];
  const envelope = await stream('SealEchoStream', messages);
  t.true(envelope.length > content.length);
  t.false(envelope.includes(content.subarray(0, 64)));
  // Cut at sizes that do not match the segments: the opener assembles them.
  const cut = [envelope.subarray(0, 1000), envelope.subarray(1000, 70_000), envelope.subarray(70_000)];
  t.deepEqual(await stream('OpenEchoStream', cut), content);
  // A truncated stream fails at its end, as DecryptStream does.
  await t.throwsAsync(stream('OpenEchoStream', [envelope.subarray(0, envelope.length - 100)]));
});

test('an Echo without the floor (UNIMPLEMENTED) is told apart, so the bench leaves the floor out instead of failing', async (t) => {
  t.true(await servesCryptoFloor(client));
  // An Echo server built before the floor: only Echo and EchoStream (grpc-js answers the rest UNIMPLEMENTED).
  const old = new grpc.Server();
  old.addService(echoServiceDefinition(), {
    Echo: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) =>
      cb(null, { payload: call.request.payload }),
  });
  const address = `unix://${join(dir, 'old.sock')}`;
  await new Promise<void>((resolve, reject) =>
    old.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  const oldClient = createEchoClient(address, 1024 * 1024);
  t.teardown(() => {
    oldClient.close();
    old.forceShutdown();
  });
  t.false(await servesCryptoFloor(oldClient));
});
