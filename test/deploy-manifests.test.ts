import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig, type Config } from '../src/config/config.js';
import { AWAITED_VARIABLES, knownEnvironmentVariables } from './helpers/config-env.js';
import { DEPLOY_DIR, parseObjects, renderKustomization, REPO_ROOT, type K8sObject } from './helpers/kustomize.js';

/**
 * deploy/ checked against the daemon: each overlay is rendered as `kubectl apply -k` would, and its sidecar's
 * environment is run through the daemon's own configuration loader, so socket paths, ports, probes and
 * settings in the manifests are the ones the daemon would use.
 */

const OVERLAYS = { sidecar: { backend: 'file', replicas: 1 }, fleet: { backend: 'postgres', replicas: 3 } } as const;
type Overlay = keyof typeof OVERLAYS;

interface Container {
  name: string;
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: unknown;
}
interface PodSpec {
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; emptyDir?: unknown; persistentVolumeClaim?: unknown }[];
}
interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}

function render(overlay: Overlay) {
  const { objects } = renderKustomization(join(DEPLOY_DIR, 'overlays', overlay));
  const workloads = objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment') as Workload[];
  if (workloads.length !== 1) throw new Error(`${overlay}: expected one workload, found ${workloads.length}`);
  const workload = workloads[0] as Workload;
  const pod = workload.spec.template.spec;
  const sidecar = pod.initContainers?.find((c) => c.name === 'unwrapd');
  if (!sidecar) throw new Error(`${overlay}: no init container named unwrapd`);
  const apps = pod.containers;
  return { objects, workload, pod, sidecar, apps };
}

/** The sidecar's environment as the daemon sees it: a Secret reference stands for a value of that name. */
function envOf(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    env[e.name] = e.value ?? (ref ? `postgres://secret-${ref.name}-${ref.key}@db.invalid/unwrapd` : '');
  }
  return env;
}

function configOf(c: Container): Config {
  return loadConfig({}, { ...envOf(c) });
}

function socketPath(address: string): string {
  if (!address.startsWith('unix://')) throw new Error(`not a Unix socket address: ${address}`);
  return address.slice('unix://'.length);
}

/** The volume mounted at `dir` in a container, if any. */
function volumeAt(c: Container, dir: string): string | undefined {
  return c.volumeMounts?.find((m) => m.mountPath === dir)?.name;
}

function metricsPort(c: Container): number {
  const listen = envOf(c).UNWRAPD_METRICS_LISTEN;
  const m = /^(.*):(\d+)$/.exec(listen ?? '');
  if (!m) throw new Error(`UNWRAPD_METRICS_LISTEN is not host:port: ${listen}`);
  return Number(m[2]);
}

function probePort(c: Container, p: Probe | undefined): number | undefined {
  const port = p?.httpGet?.port;
  if (typeof port === 'number') return port;
  return c.ports?.find((x) => x.name === port)?.containerPort;
}

test('every YAML file under deploy/ parses into Kubernetes objects and is used by an overlay', (t) => {
  const all = readdirSync(DEPLOY_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .map((f) => join(DEPLOY_DIR, f));
  t.true(all.length >= 8);
  for (const file of all) {
    if (file.endsWith('kustomization.yaml')) continue;
    t.notThrows(() => parseObjects(file), file);
  }
  const used = new Set<string>();
  for (const overlay of Object.keys(OVERLAYS)) {
    for (const f of renderKustomization(join(DEPLOY_DIR, 'overlays', overlay)).files) used.add(f);
  }
  t.deepEqual(
    all.filter((f) => !used.has(f)),
    [],
    'a YAML file no overlay uses',
  );
});

test('awaited variables: none is in the configuration yet (take it off the list when it is)', (t) => {
  const known = knownEnvironmentVariables();
  t.deepEqual(
    [...AWAITED_VARIABLES].filter((v) => known.has(v)),
    [],
  );
});

for (const overlay of Object.keys(OVERLAYS) as Overlay[]) {
  const expected = OVERLAYS[overlay];

  test(`${overlay}: unwrapd is a native sidecar (an init container with restartPolicy Always)`, (t) => {
    const { pod, sidecar } = render(overlay);
    t.is(sidecar.restartPolicy, 'Always');
    t.false(
      pod.containers.some((c) => c.name === 'unwrapd'),
      'unwrapd must not also be an ordinary container',
    );
  });

  test(`${overlay}: every UNWRAPD_ variable is a setting, and the daemon accepts the whole environment`, (t) => {
    const { sidecar, apps } = render(overlay);
    const known = knownEnvironmentVariables();
    const names = (sidecar.env ?? []).map((e) => e.name);
    t.deepEqual(
      names.filter((n) => n.startsWith('UNWRAPD_') && !known.has(n) && !AWAITED_VARIABLES.has(n)),
      [],
    );
    t.is(new Set(names).size, names.length, 'a variable set twice');
    const config = configOf(sidecar);
    t.is(config.registryBackend, expected.backend);
    t.false(config.demo, 'no demo keys in a deployment');
    t.is(config.azureCredential, 'workload-identity');
    // The application's variables are the client's: only the address.
    for (const app of apps)
      t.deepEqual(
        (app.env ?? []).map((e) => e.name).filter((n) => n.startsWith('UNWRAPD_')),
        ['UNWRAPD_ADDRESS'],
      );
  });

  test(`${overlay}: the application's address is unwrapd's data socket, in a volume both mount at one path`, (t) => {
    const { pod, sidecar, apps } = render(overlay);
    const config = configOf(sidecar);
    const dir = dirname(socketPath(config.listen));
    const volume = volumeAt(sidecar, dir);
    t.truthy(volume, `unwrapd mounts no volume at ${dir}`);
    t.truthy(pod.volumes?.find((v) => v.name === volume)?.emptyDir, 'the socket volume is an emptyDir');
    for (const app of apps) {
      t.is(envOf(app).UNWRAPD_ADDRESS, config.listen);
      t.is(volumeAt(app, dir), volume);
    }
    // The application reaches the 0660 socket through its group: the pod's fsGroup.
    t.is((config.socketMode & 0o060) >> 3, 0o6);
    t.is(typeof pod.securityContext?.fsGroup, 'number');
    t.is(Number(config.socketGroup), Number(pod.securityContext?.fsGroup));
  });

  test(`${overlay}: the admin socket and the data directory are in volumes only unwrapd mounts`, (t) => {
    const { sidecar, apps } = render(overlay);
    const config = configOf(sidecar);
    const adminVolume = volumeAt(sidecar, dirname(socketPath(config.adminListen)));
    const dataVolume = volumeAt(sidecar, config.dataDir);
    const dataSocketVolume = volumeAt(sidecar, dirname(socketPath(config.listen)));
    t.truthy(adminVolume);
    t.truthy(dataVolume);
    t.not(adminVolume, dataSocketVolume);
    t.not(dataVolume, dataSocketVolume);
    for (const app of apps) {
      const mounted = (app.volumeMounts ?? []).map((m) => m.name);
      t.false(mounted.includes(adminVolume as string), `${app.name} mounts the admin socket's volume`);
      t.false(mounted.includes(dataVolume as string), `${app.name} mounts unwrapd's data volume`);
    }
  });

  test(`${overlay}: HTTP probes on the metrics listener: startup, liveness /healthz, readiness /readyz`, (t) => {
    const { sidecar } = render(overlay);
    const port = metricsPort(sidecar);
    const host = envOf(sidecar).UNWRAPD_METRICS_LISTEN?.replace(/:\d+$/, '');
    t.true(host === '0.0.0.0' || host === '[::]', 'the kubelet probes the pod IP: the listener must not be loopback');
    t.is(sidecar.livenessProbe?.httpGet?.path, '/healthz');
    t.is(sidecar.readinessProbe?.httpGet?.path, '/readyz');
    t.true(['/healthz', '/readyz'].includes(sidecar.startupProbe?.httpGet?.path ?? ''));
    for (const probe of [sidecar.startupProbe, sidecar.livenessProbe, sidecar.readinessProbe]) {
      t.is(probe?.exec, undefined, 'no process started per probe');
      t.is(probePort(sidecar, probe), port);
    }
  });

  test(`${overlay}: non-root, read-only root, no privilege escalation, capabilities dropped, resources set`, (t) => {
    const { pod } = render(overlay);
    t.is(pod.securityContext?.runAsNonRoot, true);
    t.is(pod.securityContext?.fsGroupChangePolicy, 'OnRootMismatch', 'the keystore must stay 0600 on remount');
    const dockerUser = /^USER\s+(\d+):(\d+)\s*$/m.exec(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const sc = c.securityContext ?? {};
      t.is(sc.runAsNonRoot, true, c.name);
      t.true(typeof sc.runAsUser === 'number' && sc.runAsUser > 0, `${c.name}: a numeric non-root uid`);
      t.is(sc.readOnlyRootFilesystem, true, c.name);
      t.is(sc.allowPrivilegeEscalation, false, c.name);
      t.not(sc.privileged, true, c.name);
      t.deepEqual((sc.capabilities as { drop?: string[] } | undefined)?.drop, ['ALL'], c.name);
      t.truthy(c.resources?.requests?.cpu, `${c.name}: cpu request`);
      t.truthy(c.resources?.requests?.memory, `${c.name}: memory request`);
      t.truthy(c.resources?.limits?.memory, `${c.name}: memory limit`);
    }
    const unwrapd = pod.initContainers?.find((c) => c.name === 'unwrapd');
    t.is(String(unwrapd?.securityContext?.runAsUser), dockerUser?.[1] ?? 'no USER uid:gid', "the image's USER");
  });

  test(`${overlay}: the grace period covers unwrapd's whole shutdown`, (t) => {
    const { pod, sidecar } = render(overlay);
    const c = configOf(sidecar);
    t.true((pod.terminationGracePeriodSeconds ?? 30) * 1000 >= c.shutdownTimeoutMs + 4 * c.shutdownStepTimeoutMs);
  });

  test(`${overlay}: workload identity for unwrapd only, and a PodMonitor on its metrics port`, (t) => {
    const { objects, workload, pod, sidecar } = render(overlay);
    const labels = workload.spec.template.metadata.labels;
    t.is(labels['azure.workload.identity/use'], 'true');
    const skipped = workload.spec.template.metadata.annotations?.['azure.workload.identity/skip-containers'];
    t.deepEqual(skipped?.split(';').sort(), pod.containers.map((c) => c.name).sort());
    const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.serviceAccountName);
    t.truthy(
      (sa?.metadata as { annotations?: Record<string, string> })?.annotations?.['azure.workload.identity/client-id'],
    );
    const monitor = objects.find((o) => o.kind === 'PodMonitor') as
      | {
          spec: {
            selector: { matchLabels: Record<string, string> };
            podMetricsEndpoints: { port: string; path: string }[];
          };
        }
      | undefined;
    t.truthy(monitor);
    for (const [k, v] of Object.entries(monitor?.spec.selector.matchLabels ?? {})) t.is(labels[k], v);
    const endpoint = monitor?.spec.podMetricsEndpoints[0];
    t.is(endpoint?.path, '/metrics');
    t.is(sidecar.ports?.find((p) => p.name === endpoint?.port)?.containerPort, metricsPort(sidecar));
  });

  test(`${overlay}: replicas and registry`, (t) => {
    const { workload, sidecar } = render(overlay);
    t.is(workload.spec.replicas, expected.replicas);
    const pgUrl = sidecar.env?.find((e) => e.name === 'UNWRAPD_PG_URL');
    if (expected.backend === 'postgres') {
      t.is(pgUrl?.value, undefined, 'never the connection string in the manifest');
      t.truthy(pgUrl?.valueFrom?.secretKeyRef?.name);
      t.truthy(pgUrl?.valueFrom?.secretKeyRef?.key);
      t.false(configOf(sidecar).availabilityKeyBase.startsWith('local:'), 'a key every instance reaches');
    } else {
      t.is(pgUrl, undefined);
    }
  });
}

test('the PrometheusRule: each alert names documented metrics and has a runbook in docs/operations.md', (t) => {
  const { objects } = render('sidecar');
  const rule = objects.find((o) => o.kind === 'PrometheusRule') as
    | {
        spec: {
          groups: {
            rules: {
              alert: string;
              expr: string;
              labels?: Record<string, string>;
              annotations?: Record<string, string>;
            }[];
          }[];
        };
      }
    | undefined;
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const headings = new Set([...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1] as string)));
  const rules = rule?.spec.groups.flatMap((g) => g.rules) ?? [];
  const names = rules.map((r) => r.alert);
  for (const required of [
    'UnwrapdRevocationFeedDeaf',
    'UnwrapdAvailabilityKeyUsed',
    'UnwrapdProviderUnavailable',
    'UnwrapdRevocationLag',
    'UnwrapdCacheHitRateLow',
  ])
    t.true(names.includes(required), required);
  for (const r of rules) {
    t.truthy(r.labels?.severity, r.alert);
    for (const [metric] of r.expr.matchAll(/\bunwrapd_[a-z_]+/g)) {
      const base = metric.replace(/_(bucket|count|sum)$/, '');
      t.true(doc.includes(`\`${base}\``), `${r.alert}: ${base} is not in docs/operations.md`);
    }
    const runbook = r.annotations?.runbook ?? '';
    t.true(runbook.startsWith('docs/operations.md#'), r.alert);
    t.true(headings.has(runbook.slice('docs/operations.md#'.length)), `${r.alert}: no heading for ${runbook}`);
    t.is(runbook.split('#')[1], r.alert.toLowerCase());
  }
});

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}
