/**
 * PostgreSQL for tests. With UNWRAPD_TEST_PG_URL set (a server whose user may create databases), tests use
 * that server. Otherwise `startTestPostgres` starts a throwaway cluster from Debian's `postgresql` package
 * (initdb and pg_ctl under /usr/lib/postgresql/<version>/bin): in a temp dir, on a free port on 127.0.0.1,
 * with its Unix socket in the temp dir, as the `postgres` user when running as root; its data directory is a
 * copy of one made by initdb once per test run (see createDataDir). It is removed on
 * `stop()`, on process exit, and, if the test process is killed outright, by a small watchdog process
 * that waits for the test process to disappear.
 *
 * Each test file calls `startTestPostgres()` once and `createDatabase()` for what it needs.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { SystemDependency } from './system-dependency.js';

export interface TestPostgres {
  /** A connection string for `database` (default: the maintenance database). */
  url(database?: string): string;
  /** Creates a fresh, empty database with a unique name and returns its connection string. */
  createDatabase(prefix?: string): Promise<string>;
  /** Runs one statement as the superuser (or the configured user) on `database`. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    database: string,
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<T>>;
  /** Whether this is a throwaway cluster (so it may be stopped and started). */
  readonly throwaway: boolean;
  /** Stops the server (fast shutdown: connections are cut). Only for a throwaway cluster. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port and data. Only for a throwaway cluster. */
  startServer(): Promise<void>;
  /** Drops the databases this helper created (external server) or removes the whole cluster. */
  stop(): Promise<void>;
}

/**
 * PostgreSQL as a system dependency of a test file (test/helpers/system-dependency.ts): a server at
 * UNWRAPD_TEST_PG_URL, or the server binaries to start a throwaway cluster with.
 */
export function postgresDependency(): SystemDependency {
  return {
    name: 'PostgreSQL',
    available: Boolean(process.env.UNWRAPD_TEST_PG_URL) || findPostgresBin() !== undefined,
    installHint: "apt-get install postgresql, or set UNWRAPD_TEST_PG_URL to a server's URL",
  };
}

/**
 * Where Debian's server binaries are, or undefined when the `postgresql` package is not installed.
 * UNWRAPD_TEST_PG_BIN names the directory instead (it must hold initdb).
 */
export function findPostgresBin(): string | undefined {
  const override = process.env.UNWRAPD_TEST_PG_BIN;
  if (override !== undefined) return existsSync(join(override, 'initdb')) ? override : undefined;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (bindir && existsSync(join(bindir, 'initdb'))) return bindir;
  } catch {
    // no pg_config
  }
  return undefined;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env.UNWRAPD_TEST_PG_URL;
  if (external) return externalPostgres(external);
  return throwawayCluster();
}

let counter = 0;
function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

function withDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function runQuery<T extends pg.QueryResultRow>(
  connectionString: string,
  sql: string,
  params?: unknown[],
): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({ connectionString });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.query<T>(sql, params);
  } finally {
    await client.end().catch(() => {});
  }
}

function externalPostgres(base: string): TestPostgres {
  const created: string[] = [];
  const self: TestPostgres = {
    throwaway: false,
    url: (database) => (database ? withDatabase(base, database) : base),
    async createDatabase(prefix = 'uwd') {
      const name = uniqueName(prefix);
      await runQuery(base, `CREATE DATABASE ${name}`);
      created.push(name);
      return withDatabase(base, name);
    },
    query: (database, sql, params) => runQuery(withDatabase(base, database), sql, params),
    async stopServer() {
      throw new Error('UNWRAPD_TEST_PG_URL is an external server: it cannot be stopped by tests');
    },
    async startServer() {
      throw new Error('UNWRAPD_TEST_PG_URL is an external server');
    },
    async stop() {
      for (const name of created.splice(0))
        await runQuery(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    },
  };
  return self;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function throwawayCluster(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error(
      'PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin). Install Debian\'s "postgresql" package (.ci/run does) or set UNWRAPD_TEST_PG_URL.',
    );
  }
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'uwd-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (asRoot) chownPostgres(dir);
  // As root, the server must run as an unprivileged user: Debian's package creates `postgres`.
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? { cmd: 'runuser', args: ['-u', 'postgres', '--', join(bin, cmd), ...args] }
      : { cmd: join(bin, cmd), args };

  const removeAll = () => {
    const stop = run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-s']);
    spawnSync(stop.cmd, stop.args, { stdio: 'ignore', timeout: 10_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  const onExit = () => removeAll();
  process.once('exit', onExit);

  try {
    createDataDir(bin, data, asRoot);
  } catch (err) {
    onExit();
    process.removeListener('exit', onExit);
    throw err;
  }
  // Fast and throwaway: no fsync; small; ours alone on a free port and a private socket directory.
  writeFileSync(
    join(data, 'postgresql.auto.conf'),
    [
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${dir}'`,
      `fsync = off`,
      `synchronous_commit = off`,
      `full_page_writes = off`,
      `max_connections = 200`,
      `shared_buffers = '32MB'`,
      `log_min_messages = warning`,
      '',
    ].join('\n'),
    { flag: 'a' },
  );
  if (asRoot) chownPostgres(join(data, 'postgresql.auto.conf'));

  // The watchdog: if this process dies without running its exit handlers (SIGKILL), stop and remove the cluster.
  const stopCmd = run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-s']);
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${[stopCmd.cmd, ...stopCmd.args].map(shellQuote).join(' ')} >/dev/null 2>&1; rm -rf ${shellQuote(dir)}`,
    ],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();

  let port = 0;
  const startServer = async () => {
    // A free port can be taken between the probe and the bind: try a few.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const start = run('pg_ctl', ['start', '-D', data, '-l', logFile, '-w', '-t', '60', '-s', '-o', `-p ${port}`]);
      const res = spawnSync(start.cmd, start.args, { encoding: 'utf8', timeout: 70_000 });
      if (res.status === 0) return;
      if (attempt >= 2)
        throw new Error(`pg_ctl start failed (${res.status}): ${(res.stderr || res.stdout || '').slice(0, 2000)}`);
    }
  };
  const restartOnSamePort = async () => {
    const start = run('pg_ctl', ['start', '-D', data, '-l', logFile, '-w', '-t', '60', '-s', '-o', `-p ${port}`]);
    const res = spawnSync(start.cmd, start.args, { encoding: 'utf8', timeout: 70_000 });
    if (res.status !== 0)
      throw new Error(`pg_ctl start failed (${res.status}): ${(res.stderr || res.stdout || '').slice(0, 2000)}`);
  };
  try {
    await startServer();
  } catch (err) {
    onExit();
    process.removeListener('exit', onExit);
    throw err;
  }

  const base = () => `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    throwaway: true,
    url: (database) => withDatabase(base(), database ?? 'postgres'),
    async createDatabase(prefix = 'uwd') {
      const name = uniqueName(prefix);
      await runQuery(base(), `CREATE DATABASE ${name}`);
      return withDatabase(base(), name);
    },
    query: (database, sql, params) => runQuery(withDatabase(base(), database), sql, params),
    async stopServer() {
      const stop = run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-s']);
      const res = spawnSync(stop.cmd, stop.args, { encoding: 'utf8', timeout: 60_000 });
      if (res.status !== 0) throw new Error(`pg_ctl stop failed: ${res.stderr}`);
    },
    startServer: restartOnSamePort,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      removeAll();
    },
  };
}

/**
 * A fresh data directory at `data`: a copy of this test run's pristine cluster (made by initdb once per run,
 * in a directory removed when the run ends), so that each test file pays a copy, not an initdb. A test run is
 * the process that started this one (ava's main process for a test worker); whichever file comes first makes
 * the template, files racing it make their own.
 */
function createDataDir(bin: string, data: string, asRoot: boolean): void {
  const template = join(
    tmpdir(),
    `uwd-pg-template-${process.ppid}-${createHash('sha256').update(bin).digest('hex').slice(0, 8)}`,
  );
  const copy = (from: string, to: string) => {
    const res = spawnSync('cp', ['-a', from, to], { encoding: 'utf8', timeout: 60_000 });
    if (res.status !== 0) throw new Error(`copying ${from} failed (${res.status}): ${res.stderr.slice(0, 2000)}`);
  };
  if (existsSync(join(template, 'data', 'PG_VERSION'))) {
    copy(join(template, 'data'), data);
    return;
  }
  const initdb = asRoot
    ? { cmd: 'runuser', args: ['-u', 'postgres', '--', join(bin, 'initdb')] }
    : { cmd: join(bin, 'initdb'), args: [] };
  const init = spawnSync(
    initdb.cmd,
    [
      ...initdb.args,
      '-D',
      data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (init.status !== 0)
    throw new Error(`initdb failed (${init.status}): ${(init.stderr || init.stdout || '').slice(0, 2000)}`);
  // Offer it as the run's template: copied aside, then renamed into place (atomic; the first one wins).
  const staging = mkdtempSync(`${template}-staging-`);
  try {
    copy(data, join(staging, 'data'));
    renameSync(staging, template);
  } catch {
    rmSync(staging, { recursive: true, force: true });
    return;
  }
  // Removed once the run's process is gone.
  spawn('sh', ['-c', `while kill -0 ${process.ppid} 2>/dev/null; do sleep 1; done; rm -rf ${shellQuote(template)}`], {
    detached: true,
    stdio: 'ignore',
  }).unref();
}

function chownPostgres(path: string): void {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(path, uid, gid);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
