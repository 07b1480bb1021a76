import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { adminAddress, CLIENT_OPTIONS, daemonAddress, deadline, parse } from '../options.js';
import { print } from '../output.js';

const require = createRequire(import.meta.url);

interface HealthClient extends grpc.Client {
  Check(
    req: { service: string },
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): void;
}

/**
 * `unwrapd health [--service NAME]`: a grpc.health.v1 check, for probes in images without
 * grpc_health_probe. Exit 0 when SERVING, 1 otherwise.
 */
export async function health(args: string[]): Promise<number> {
  const { values } = parse(args, { ...CLIENT_OPTIONS, service: { type: 'string' } });
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  const Health = (
    grpc.loadPackageDefinition(def) as unknown as {
      grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } } };
    }
  ).grpc.health.v1.Health;
  // The Admin service answers on the admin listener only.
  const address = values.service === 'unwrapd.v1.Admin' ? adminAddress(values) : daemonAddress(values);
  const client = new Health(address, grpc.credentials.createInsecure());
  try {
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      client.Check(
        { service: values.service ?? '' },
        { deadline: Date.now() + (deadline(values) ?? 3_000) },
        (err, r) => (err ? reject(err) : resolve(r!)),
      ),
    );
    print(values.json, res, () => res.status);
    return res.status === 'SERVING' ? 0 : 1;
  } finally {
    client.close();
  }
}
