import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ReflectionService } from '@grpc/reflection';
import { loadProto } from '../src/rpc/proto.js';
import { addReflection } from '../src/server/reflection.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const require = createRequire(import.meta.url);

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});

async function healthOf(address: string, service: string): Promise<string> {
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a dynamically loaded service definition
  const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
  const client = new Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) =>
      client.Check({ service }, (e: grpc.ServiceError | null, v: { status: string }) =>
        e ? (e.code === grpc.status.NOT_FOUND ? resolve('NOT_FOUND') : reject(e)) : resolve(v.status),
      ),
    );
  } finally {
    client.close();
  }
}

async function reflectedServices(address: string): Promise<string[]> {
  const pkgDir = dirname(require.resolve('@grpc/reflection/package.json'));
  const def = protoLoader.loadSync(join(pkgDir, 'build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a dynamically loaded service definition
  const Reflection = (grpc.loadPackageDefinition(def) as any).grpc.reflection.v1.ServerReflection;
  const client = new Reflection(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (res: { list_services_response?: { service: Array<{ name: string }> } }) => {
        resolve(res.list_services_response?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
  } finally {
    client.close();
  }
}

test('grpc.health.v1.Health reports SERVING for each listener and the service it serves, and nothing for the other', async (t) => {
  t.is(await healthOf(d.daemon.address, ''), 'SERVING');
  t.is(await healthOf(d.daemon.address, 'unwrapd.v1.Crypto'), 'SERVING');
  t.is(await healthOf(d.daemon.address, 'unwrapd.v1.Admin'), 'NOT_FOUND', 'the data listener does not serve Admin');
  t.is(await healthOf(d.daemon.adminAddress, ''), 'SERVING');
  t.is(await healthOf(d.daemon.adminAddress, 'unwrapd.v1.Admin'), 'SERVING');
  t.is(
    await healthOf(d.daemon.adminAddress, 'unwrapd.v1.Crypto'),
    'NOT_FOUND',
    'the admin listener does not serve Crypto',
  );
});

test('server reflection lists only the service each listener serves, and health (what grpcurl uses)', async (t) => {
  const data = await reflectedServices(d.daemon.address);
  t.true(data.includes('unwrapd.v1.Crypto'));
  t.false(data.includes('unwrapd.v1.Admin'));
  const admin = await reflectedServices(d.daemon.adminAddress);
  t.true(admin.includes('unwrapd.v1.Admin'));
  t.false(admin.includes('unwrapd.v1.Crypto'));
  // grpc.health.v1.Health is listed too, so `grpcurl … grpc.health.v1.Health/Check` needs no proto file.
  t.true(data.includes('grpc.health.v1.Health'));
  t.true(admin.includes('grpc.health.v1.Health'));
});

/** Every answer a listener's reflection gives to `requests`, over v1 and v1alpha, bytes included. */
async function reflectionAnswers(address: string, requests: object[]): Promise<unknown[]> {
  const pkgDir = dirname(require.resolve('@grpc/reflection/package.json'));
  const answers: unknown[] = [];
  for (const version of ['v1', 'v1alpha']) {
    const file = join(pkgDir, `build/proto/grpc/reflection/${version}/reflection.proto`);
    const def = protoLoader.loadSync(file, { keepCase: true });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a dynamically loaded service definition
    const Reflection = (grpc.loadPackageDefinition(def) as any).grpc.reflection[version].ServerReflection;
    const client = new Reflection(address, grpc.credentials.createInsecure());
    try {
      answers.push(
        await new Promise<unknown[]>((resolve, reject) => {
          const got: unknown[] = [];
          const call = client.ServerReflectionInfo();
          call.on('data', (res: unknown) => got.push(res));
          call.on('end', () => resolve(got));
          call.on('error', reject);
          for (const request of requests) call.write(request);
          call.end();
        }),
      );
    } finally {
      client.close();
    }
  }
  return answers;
}

test('each listener of each daemon in a process reflects exactly what a ReflectionService over the whole definition does', async (t) => {
  const symbols = [
    'unwrapd.v1.Crypto',
    'unwrapd.v1.Crypto.Encrypt',
    'unwrapd.v1.Admin',
    'unwrapd.v1.EncryptRequest',
    'unwrapd.v1.Policy',
    'grpc.health.v1.Health',
    'grpc.health.v1.HealthCheckResponse',
    'google.protobuf.Timestamp',
    'no.such.Symbol',
  ];
  const files = ['unwrapd/v1/crypto.proto', 'unwrapd/v1/admin.proto', 'health/v1/health.proto', 'no/such.proto'];
  const requests = [
    { list_services: '' },
    ...symbols.map((s) => ({ file_containing_symbol: s })),
    ...files.map((f) => ({ file_by_filename: f })),
    { all_extension_numbers_of_type: 'unwrapd.v1.Policy' },
  ];
  // The reference: one ReflectionService made from the daemon's definition and health.proto's, as
  // @grpc/reflection documents.
  const { definition } = loadProto();
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const whole = { ...definition, ...protoLoader.loadSync(protoPath) };
  const expected = async (service: string) => {
    const server = new grpc.Server();
    new ReflectionService(whole, { services: [service, 'grpc.health.v1.Health'] }).addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    try {
      return await reflectionAnswers(`127.0.0.1:${port}`, requests);
    } finally {
      server.forceShutdown();
    }
  };
  const crypto = await expected('unwrapd.v1.Crypto');
  const admin = await expected('unwrapd.v1.Admin');
  t.true(JSON.stringify(crypto).includes('file_descriptor_response'), 'the reference describes files');
  const second = await startTestDaemon(); // its listeners reuse the reflection the first daemon's made
  try {
    for (const daemon of [d.daemon, second.daemon]) {
      t.deepEqual(await reflectionAnswers(daemon.address, requests), crypto);
      t.deepEqual(await reflectionAnswers(daemon.adminAddress, requests), admin);
    }
  } finally {
    await second.stop();
  }
});

test('a reflection that cannot be made fails the reflection call with INTERNAL, is reported once and not made again, and the listener keeps serving', async (t) => {
  const server = new grpc.Server();
  // Not a FileDescriptorProto: the ReflectionService made at the first call throws decoding it.
  const broken = { 'x.Y': { fileDescriptorProtos: [Buffer.from([0xff, 0xff, 0xff])] } };
  const reported: unknown[] = [];
  addReflection(server, broken as unknown as protoLoader.PackageDefinition, ['x.Service'], (err) => reported.push(err));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  try {
    for (let i = 0; i < 2; i++) {
      const err = await t.throwsAsync(reflectionAnswers(`127.0.0.1:${port}`, [{ list_services: '' }]));
      t.like(err, { code: grpc.status.INTERNAL, details: 'server reflection is unavailable' });
    }
    t.is(reported.length, 1, 'reported at the first call only');
    t.true(reported[0] instanceof Error);
  } finally {
    server.forceShutdown();
  }
});
