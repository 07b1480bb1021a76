import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnwrapdClient } from '../src/client/client.js';
import { ConfigError } from '../src/config/config.js';
import { createLogger, silentLogger } from '../src/log/logger.js';
import { serverCredentials, type TransportSecuritySettings } from '../src/server/transport-security.js';
import { mtlsCa } from './helpers/mtls-ca.js';
import { startTestDaemon } from './helpers/test-daemon.js';

const CLI = fileURLToPath(new URL('../bin/unwrapd.js', import.meta.url));
const NO_TLS: TransportSecuritySettings = {
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsClientCaFile: '',
  allowInsecureTcp: false,
};

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger('debug', {}, (l) => lines.push(l)) };
}

async function files(t: { teardown(fn: () => Promise<void>): void }) {
  const ca = mtlsCa();
  const dir = await mkdtemp(join(tmpdir(), 'uwd-ts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  const clientCa = join(dir, 'ca.pem');
  await writeFile(cert, ca.server.certPem);
  await writeFile(key, ca.server.keyPem, { mode: 0o600 });
  await writeFile(clientCa, ca.caPem);
  return {
    dir,
    cert,
    key,
    clientCa,
    tls: { ...NO_TLS, tlsCertFile: cert, tlsKeyFile: key, tlsClientCaFile: clientCa },
  };
}

test('a non-loopback plaintext listen address refuses to start, naming allowInsecureTcp', (t) => {
  for (const listen of ['0.0.0.0:7443', '[::]:7443', '10.0.0.5:7443', 'unwrapd.example.org:7443']) {
    const err = t.throws(() => serverCredentials(listen, NO_TLS, silentLogger), { instanceOf: ConfigError });
    t.regex(err!.message, /allowInsecureTcp/, listen);
  }
});

test('plaintext on a loopback address starts with a warning; a Unix socket needs no TLS', (t) => {
  for (const listen of ['127.0.0.1:0', '[::1]:0', 'localhost:7443']) {
    const { lines, log } = capture();
    t.truthy(serverCredentials(listen, NO_TLS, log));
    t.true(
      lines.some((l) => JSON.parse(l).level === 'warn' && /plaintext TCP on a loopback address/.test(l)),
      listen,
    );
  }
  const { lines, log } = capture();
  serverCredentials('unix:///tmp/x.sock', NO_TLS, log);
  t.false(lines.some((l) => JSON.parse(l).level === 'warn'));
});

test('allowInsecureTcp lets a non-loopback plaintext address start, with a loud warning', (t) => {
  const { lines, log } = capture();
  serverCredentials('0.0.0.0:7443', { ...NO_TLS, allowInsecureTcp: true }, log);
  t.true(lines.some((l) => JSON.parse(l).level === 'warn' && /INSECURE/.test(l)));
});

test('TLS files are read strictly: missing, not PEM, a mismatched key, a key without a certificate each name the setting and path', async (t) => {
  const f = await files(t);
  const fail = (s: Partial<TransportSecuritySettings>, re: RegExp) => {
    const err = t.throws(() => serverCredentials('0.0.0.0:0', { ...f.tls, ...s }, silentLogger), {
      instanceOf: ConfigError,
    });
    t.regex(err!.message, re);
  };
  fail(
    { tlsCertFile: join(f.dir, 'missing.pem') },
    new RegExp(`tlsCertFile ${join(f.dir, 'missing.pem')} cannot be read \\(ENOENT\\)`),
  );
  fail({ tlsClientCaFile: join(f.dir, 'nope.pem') }, /tlsClientCaFile .*nope\.pem cannot be read \(ENOENT\)/);
  await writeFile(join(f.dir, 'junk.pem'), 'hello');
  fail({ tlsCertFile: join(f.dir, 'junk.pem') }, /tlsCertFile .*junk\.pem is not PEM/);
  fail({ tlsCertFile: f.dir }, /tlsCertFile .* is not a regular file/);
  await writeFile(join(f.dir, 'other.key'), mtlsCa().spiffe.keyPem, { mode: 0o600 });
  fail(
    { tlsKeyFile: join(f.dir, 'other.key') },
    /tlsKeyFile .*other\.key is not the private key of the certificate in tlsCertFile/,
  );
  await writeFile(join(f.dir, 'bad.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', {
    mode: 0o600,
  });
  fail({ tlsKeyFile: join(f.dir, 'bad.key') }, /tlsKeyFile .*bad\.key holds no usable PEM private key/);
  fail({ tlsCertFile: '' }, /tlsCertFile is required/);
  fail({ tlsKeyFile: '' }, /tlsKeyFile is required/);
  // A leaf certificate is no client CA.
  fail({ tlsClientCaFile: f.cert }, /tlsClientCaFile .* holds a certificate that is not a CA/);
});

test('a TLS key file readable by group or others is refused, like the keystore', async (t) => {
  const f = await files(t);
  for (const mode of [0o640, 0o604, 0o644]) {
    await chmod(f.key, mode);
    const err = t.throws(() => serverCredentials('0.0.0.0:0', f.tls, silentLogger), { instanceOf: ConfigError });
    t.regex(err!.message, new RegExp(`tlsKeyFile ${f.key} has mode 0${mode.toString(8)}.*chmod 600`));
  }
  await chmod(f.key, 0o400);
  t.truthy(serverCredentials('0.0.0.0:0', f.tls, silentLogger));
});

test('the daemon refuses a non-loopback plaintext listen before it opens anything', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-ts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(startTestDaemon({ listen: '0.0.0.0:0' }, { dir }), {
    instanceOf: ConfigError,
    message: /allowInsecureTcp/,
  });
  t.deepEqual(await readdir(dir), [], 'no keystore, registry or audit log was created');
});

/** A Crypto call (the data listener serves Crypto only). */
const HELLO = { tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('hello') };

test('with allowInsecureTcp the daemon serves plaintext on 0.0.0.0 (reached here only via 127.0.0.1) and warns', async (t) => {
  const { lines, log } = capture();
  const d = await startTestDaemon({ listen: '0.0.0.0:0', allowInsecureTcp: true }, { log });
  try {
    const port = d.daemon.address.split(':').pop();
    const client = new UnwrapdClient(`127.0.0.1:${port}`);
    t.true((await client.encrypt(HELLO)).envelope.length > 0);
    client.close();
    t.true(lines.some((l) => /INSECURE/.test(l)));
  } finally {
    await d.stop();
  }
});

test('a plaintext loopback TCP daemon logs a warning at start', async (t) => {
  const { lines, log } = capture();
  const d = await startTestDaemon({ listen: '127.0.0.1:0' }, { log });
  await d.stop();
  t.true(lines.some((l) => JSON.parse(l).level === 'warn' && /plaintext TCP on a loopback address/.test(l)));
});

test('unwrapd serve --listen 0.0.0.0:0 exits 2 with a message naming allowInsecureTcp', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'uwd-ts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const child = spawn('node', [CLI, 'serve', '--listen', '0.0.0.0:0', '--data-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UNWRAPD_LISTEN: '' },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(code, 2, stderr);
  t.regex(stderr, /config: .*allowInsecureTcp/);
});

test('the server credentials are TLS with a certificate: a plaintext client cannot call a TLS listener', async (t) => {
  const f = await files(t);
  const d = await startTestDaemon({ listen: '127.0.0.1:0', tlsCertFile: f.cert, tlsKeyFile: f.key });
  try {
    const plain = new UnwrapdClient(d.daemon.address, { deadlineMs: 15_000 });
    await t.throwsAsync(plain.encrypt(HELLO), { code: grpc.status.UNAVAILABLE } as never);
    plain.close();
    // Server-only TLS: a client that trusts the CA gets in, unauthenticated (tcp:<peer>).
    const tls = new UnwrapdClient(d.daemon.address, {
      credentials: grpc.credentials.createSsl(Buffer.from(mtlsCa().caPem)),
      deadlineMs: 15_000,
    });
    t.true((await tls.encrypt(HELLO)).envelope.length > 0);
    tls.close();
  } finally {
    await d.stop();
  }
});
