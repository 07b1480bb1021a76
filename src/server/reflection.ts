import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

const HEALTH_SERVICE = 'grpc.health.v1.Health';

type ServiceRegistration = [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];

/** grpc.health.v1's package definition, parsed from grpc-health-check's .proto once per process. */
let healthDefinition: protoLoader.PackageDefinition | undefined;
/** The reflection services for each listed set of services, per package definition: made once per process. */
const made = new WeakMap<protoLoader.PackageDefinition, Map<string, ServiceRegistration[]>>();

/** The services @grpc/reflection's addToServer adds: ServerReflection v1 and v1alpha, one bidi method each. */
const REFLECTION_VERSIONS = ['v1', 'v1alpha'] as const;
const METHOD = 'ServerReflectionInfo';

/**
 * Adds gRPC server reflection (v1 and v1alpha) to a listener: it lists `services` (those the listener serves)
 * and grpc.health.v1.Health, and describes every file of `definition` and of health.proto.
 *
 * Made once per process for each set of services, then registered on each listener that serves that set (a
 * daemon has two listeners, a test process starts many daemons), and completed at the first reflection call:
 * @grpc/reflection's ReflectionService indexes the files in its constructor (about 30 ms of CPU for each set,
 * more in a process's first) and its addToServer parses the reflection .proto files (about 50 ms in a daemon),
 * work that only reflection clients (grpcurl) need. So each listener gets the two methods, their paths and
 * streaming as addToServer's, whose serializers and handler are ReflectionService's own, made at the first
 * call and used for every later one (test/health-reflection.test.ts holds the answers to the library's). The
 * files it indexes are gathered here, at start. It is read-only once made, so listeners share it. The first
 * reflection call of a process pays the indexing (about 0.1 s of CPU, on the event loop). Should making it fail
 * (an install missing @grpc/reflection's .proto files), `onError` (the first given for that set of services in
 * the process) hears of it once and every reflection call ends with INTERNAL, while the listener serves its
 * services as before.
 */
export function addReflection(
  server: Pick<grpc.Server, 'addService'>,
  definition: protoLoader.PackageDefinition,
  services: readonly string[],
  onError: (err: unknown) => void = () => {},
): void {
  let bySet = made.get(definition);
  if (!bySet) made.set(definition, (bySet = new Map()));
  const key = services.join('\n');
  let registrations = bySet.get(key);
  if (!registrations) {
    const files = fileDescriptors(definition);
    let byPath: Map<string, Registered> | undefined;
    let failure: unknown;
    const reflection = (path: string): Registered => {
      if (failure !== undefined) throw failure; // made once: a failure is not retried at every call
      try {
        byPath ??= registered(new ReflectionService(files, { services: [...services, HEALTH_SERVICE] }));
      } catch (err) {
        failure = err ?? new Error('server reflection failed');
        onError(failure);
        throw failure;
      }
      const found = byPath.get(path);
      if (!found) throw new Error(`@grpc/reflection serves no ${path}`);
      return found;
    };
    registrations = REFLECTION_VERSIONS.map((version): ServiceRegistration => {
      const path = `/grpc.reflection.${version}.ServerReflection/${METHOD}`;
      const method: grpc.MethodDefinition<unknown, unknown> = {
        path,
        requestStream: true,
        responseStream: true,
        originalName: 'serverReflectionInfo',
        requestSerialize: (value) => reflection(path).method.requestSerialize(value),
        requestDeserialize: (bytes) => reflection(path).method.requestDeserialize(bytes),
        responseSerialize: (value) => reflection(path).method.responseSerialize(value),
        responseDeserialize: (bytes) => reflection(path).method.responseDeserialize(bytes),
      };
      const handler = (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        let target: Registered;
        try {
          target = reflection(path);
        } catch {
          // Made at the first call, so a failure to make it fails the reflection calls, not the daemon.
          call.emit('error', { code: grpc.status.INTERNAL, details: 'server reflection is unavailable' });
          return;
        }
        target.handler(call);
      };
      return [{ [METHOD]: method }, { [METHOD]: handler }];
    });
    bySet.set(key, registrations);
  }
  for (const [service, implementation] of registrations) server.addService(service, implementation);
}

interface Registered {
  method: grpc.MethodDefinition<unknown, unknown>;
  handler: (call: unknown) => void;
}

/** The methods a ReflectionService's addToServer adds (v1 and v1alpha ServerReflection), by path. */
function registered(reflection: ReflectionService): Map<string, Registered> {
  const byPath = new Map<string, Registered>();
  reflection.addToServer({
    addService: (service, implementation) => {
      for (const [name, method] of Object.entries(service)) {
        const handler = implementation[name] as (call: unknown) => void;
        byPath.set(method.path, { method, handler: (call) => handler.call(implementation, call) });
      }
    },
  });
  return byPath;
}

/**
 * What ReflectionService reads of a package definition: each entry's `fileDescriptorProtos` (it keeps the
 * first file of each name). proto-loader gives every type of a definition the same array, so one entry per
 * distinct array, in the order the full definitions would give them, describes the same files.
 */
function fileDescriptors(definition: protoLoader.PackageDefinition): protoLoader.PackageDefinition {
  healthDefinition ??= protoLoader.loadSync(healthProtoPath);
  const seen = new Set<unknown>();
  const files: protoLoader.PackageDefinition = {};
  for (const [name, entry] of Object.entries({ ...definition, ...healthDefinition })) {
    const protos = (entry as { fileDescriptorProtos?: unknown }).fileDescriptorProtos;
    if (!Array.isArray(protos) || seen.has(protos)) continue;
    seen.add(protos);
    files[name] = entry;
  }
  return files;
}
