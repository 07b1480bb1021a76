import * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

type ServiceRegistration = [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];

/** grpc.health.v1's package definition, parsed from grpc-health-check's .proto once per process. */
let healthDefinition: protoLoader.PackageDefinition | undefined;
/** The reflection services for each listed set of services, per package definition: made once per process. */
const made = new WeakMap<protoLoader.PackageDefinition, Map<string, ServiceRegistration[]>>();

/**
 * Adds gRPC server reflection (v1 and v1alpha) to a listener: it lists `services` (those the listener serves)
 * and grpc.health.v1.Health, and describes every file of `definition` and of health.proto.
 *
 * Made once per process for each set of services, then registered on each listener that serves that set (a
 * daemon has two listeners, a test process starts many daemons). @grpc/reflection's ReflectionService indexes
 * the files in its constructor, about 30 ms of CPU for each set even over one copy of each file (and more in
 * the first), and its addToServer parses the reflection .proto files at every call: the services are registered
 * at once (their definitions those of a ReflectionService over no file), and the indexed one is made at the
 * first reflection call, which it then answers, as every later one. The files it indexes are gathered here, at
 * start. It is read-only once made (it answers from its indexes), so listeners share it.
 */
export function addReflection(
  server: Pick<grpc.Server, 'addService'>,
  definition: protoLoader.PackageDefinition,
  services: readonly string[],
): void {
  let bySet = made.get(definition);
  if (!bySet) made.set(definition, (bySet = new Map()));
  const key = services.join('\n');
  let registrations = bySet.get(key);
  if (!registrations) {
    const files = fileDescriptors(definition);
    let indexed: ServiceRegistration[] | undefined;
    const reflection = () =>
      (indexed ??= registered(new ReflectionService(files, { services: [...services, HEALTH_SERVICE] })));
    registrations = registered(new ReflectionService({})).map(([service, implementation]) => {
      const path = firstPath(service);
      const forwarding: grpc.UntypedServiceImplementation = {};
      for (const name of Object.keys(implementation))
        forwarding[name] = (call: unknown) => {
          const target = reflection().find(([s]) => firstPath(s) === path)![1];
          (target[name] as (call: unknown) => void).call(target, call);
        };
      return [service, forwarding];
    });
    bySet.set(key, registrations);
  }
  for (const [service, implementation] of registrations) server.addService(service, implementation);
}

/** The services a ReflectionService's addToServer adds (v1 and v1alpha ServerReflection), and their handlers. */
function registered(reflection: ReflectionService): ServiceRegistration[] {
  const recorded: ServiceRegistration[] = [];
  reflection.addToServer({ addService: (service, implementation) => recorded.push([service, implementation]) });
  return recorded;
}

function firstPath(service: grpc.ServiceDefinition): string {
  return Object.values(service)[0]!.path;
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
