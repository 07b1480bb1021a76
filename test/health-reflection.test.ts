import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const require = createRequire(import.meta.url);

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after.always(async () => {
  await d?.stop();
});

test('grpc.health.v1.Health reports SERVING for the server and each service', async (t) => {
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
  const client = new Health(d.daemon.address, grpc.credentials.createInsecure());
  try {
    for (const service of ['', 'unwrapd.v1.Crypto', 'unwrapd.v1.Admin']) {
      const res = await new Promise<{ status: string }>((resolve, reject) => client.Check({ service }, (e: Error | null, v: { status: string }) => (e ? reject(e) : resolve(v))));
      t.is(res.status, 'SERVING', service || '(server)');
    }
  } finally {
    client.close();
  }
});

test('server reflection lists the unwrapd services (what grpcurl uses)', async (t) => {
  const pkgDir = dirname(require.resolve('@grpc/reflection/package.json'));
  const def = protoLoader.loadSync(join(pkgDir, 'build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true });
  const Reflection = (grpc.loadPackageDefinition(def) as any).grpc.reflection.v1.ServerReflection;
  const client = new Reflection(d.daemon.address, grpc.credentials.createInsecure());
  try {
    const names = await new Promise<string[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (res: { list_services_response?: { service: Array<{ name: string }> } }) => {
        resolve(res.list_services_response?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
    t.true(names.includes('unwrapd.v1.Crypto'));
    t.true(names.includes('unwrapd.v1.Admin'));
  } finally {
    client.close();
  }
});
