import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../src/config/config.js';
import { AWAITED_VARIABLES, knownEnvironmentVariables } from './helpers/config-env.js';
import { REPO_ROOT } from './helpers/kustomize.js';

/** The Dockerfile read as instructions (continuation lines joined, comments dropped), grouped by stage. */
interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  body: Instruction[];
}

function stagesOf(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') {
      const [from = '', as, name] = args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, body: [] });
    } else stages.at(-1)?.body.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const STAGES = stagesOf(DOCKERFILE);
const FINAL = STAGES.at(-1) as Stage;
const byName = (name: string) => STAGES.find((s) => s.name === name);

/** ENV of the final stage, both `ENV A=1 B=2` and `ENV A 1`. */
function finalEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of FINAL.body.filter((x) => x.op === 'ENV')) {
    const pairs = [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)];
    if (pairs.length === 0) {
      const [k = '', ...v] = i.args.split(/\s+/);
      env[k] = v.join(' ');
    }
    for (const [, k = '', v = ''] of pairs) env[k] = v.replace(/^"|"$/g, '');
  }
  return env;
}

/** The whole chain of stages a stage is built on (`FROM <stage>`), itself first. */
function lineage(stage: Stage): Stage[] {
  const parent = byName(stage.from);
  return parent ? [stage, ...lineage(parent)] : [stage];
}

test('the final stage runs as a numeric non-root user', (t) => {
  const users = FINAL.body.filter((i) => i.op === 'USER');
  t.is(users.length, 1);
  const m = /^(\d+):(\d+)$/.exec(users[0]?.args ?? '');
  t.truthy(m, 'USER uid:gid, numeric, so that runAsNonRoot can verify it');
  t.true(Number(m?.[1]) > 0 && Number(m?.[2]) > 0);
});

test('the final stage holds production dependencies only, built without a toolchain in the image', (t) => {
  t.is(FINAL.from, 'node:20-bookworm-slim', 'a clean base, not a build stage');
  const runs = FINAL.body.filter((i) => i.op === 'RUN').map((i) => i.args);
  t.false(
    runs.some((r) => /\bnpm\b|apt-get|\bg\+\+|python3/.test(r)),
    'no install or compiler in the final stage',
  );
  const copies = FINAL.body.filter((i) => i.op === 'COPY');
  t.false(
    copies.some((c) => /(^|\s)\.?\/?src\b/.test(c.args) && !c.args.includes('--from')),
    'no TypeScript sources',
  );
  const modules = copies.filter((c) => /node_modules/.test(c.args));
  t.is(modules.length, 1);
  const from = /--from=(\S+)/.exec(modules[0]?.args ?? '')?.[1] ?? '';
  const stage = byName(from);
  t.truthy(stage, `node_modules comes from stage ${from}`);
  const installs = lineage(stage as Stage).flatMap((s) => s.body.filter((i) => /npm (ci|install)/.test(i.args)));
  t.true(installs.length > 0);
  for (const i of installs) t.regex(i.args, /--omit=dev/, `${from}: ${i.args}`);
});

test('the build stage copies what `npm run build` reads before running it', (t) => {
  const build = byName('build') as Stage;
  const run = build.body.findIndex((i) => i.op === 'RUN' && /npm run build/.test(i.args));
  t.true(run > 0);
  const copied = build.body
    .slice(0, run)
    .filter((i) => i.op === 'COPY')
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } };
  t.is(pkg.scripts.build, 'node scripts/build.mjs');
  // scripts/build.mjs imports bin/build-state.js and compiles src/ with tsconfig.build.json (extending tsconfig.json).
  for (const needed of ['scripts/build.mjs', 'bin', 'src', 'tsconfig.json', 'tsconfig.build.json'])
    t.true(copied.includes(needed), `${needed} is not copied before npm run build`);
});

test('the image creates no demo unless UNWRAPD_DEMO=1, and every UNWRAPD_ variable is a setting', (t) => {
  const env = finalEnv();
  t.is(env.UNWRAPD_DEMO, '0');
  const known = knownEnvironmentVariables();
  t.deepEqual(
    Object.keys(env).filter((k) => k.startsWith('UNWRAPD_') && !known.has(k) && !AWAITED_VARIABLES.has(k)),
    [],
  );
  t.false(loadConfig({}, env).demo);
  t.true(loadConfig({}, { ...env, UNWRAPD_DEMO: '1' }).demo, 'docker run -e UNWRAPD_DEMO=1 gives the demo');
});

test('the image writes only to its volumes: data directory and socket directories', (t) => {
  const env = finalEnv();
  const config = loadConfig({}, env);
  const volumes = FINAL.body.filter((i) => i.op === 'VOLUME').flatMap((i) => JSON.parse(i.args) as string[]);
  const under = (p: string) => volumes.some((v) => p === v || p.startsWith(`${v}/`));
  for (const path of [
    config.dataDir,
    config.keystorePath,
    config.registryPath,
    config.auditLogPath,
    config.listen.replace('unix://', ''),
    config.adminListen.replace('unix://', ''),
  ])
    t.true(under(path), `${path} is not in a VOLUME`);
});

test('HEALTHCHECK asks /healthz on the metrics port: 200 passes, 503 and a closed port fail', async (t) => {
  const hc = FINAL.body.find((i) => i.op === 'HEALTHCHECK');
  t.truthy(hc);
  const cmd = /CMD\s+(\[.*\])\s*$/.exec(hc?.args ?? '')?.[1];
  const argv = JSON.parse(cmd ?? '[]') as string[];
  t.true(argv.join(' ').includes('/healthz'));
  const run = (port: number) =>
    new Promise<number>((resolve) => {
      const [file = '', ...args] = argv;
      execFile(
        file,
        args,
        { env: { PATH: process.env.PATH, UNWRAPD_METRICS_LISTEN: `0.0.0.0:${port}` }, timeout: 10_000 },
        (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
      );
    });
  let status = 200;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    t.is(await run(port), 0);
    status = 503;
    t.not(await run(port), 0);
    t.deepEqual(paths, ['/healthz', '/healthz']);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  t.not(await run(port), 0, 'nothing listening');
});

test('.dockerignore lets in exactly what the Dockerfile copies from the build context', (t) => {
  const rules = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.is(rules[0], '*', 'an allowlist: everything else stays out');
  const allowed = new Set(rules.slice(1).map((r) => r.replace(/^!/, '').replace(/\/$/, '')));
  const sources = STAGES.flatMap((s) => s.body)
    .filter((i) => i.op === 'COPY' && !i.args.includes('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
    .map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''));
  t.true(sources.length > 0);
  for (const s of sources) t.true(allowed.has(s), `${s} is copied but not allowed in .dockerignore`);
  for (const a of allowed) t.true(sources.includes(a), `${a} is allowed but never copied`);
});
