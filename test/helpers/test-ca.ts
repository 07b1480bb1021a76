import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway certificate authority and one server certificate signed by it, made with the `openssl` CLI
 * (/usr/bin/openssl on Debian) in a temp dir that is removed at once. P-256 keys, so it takes ~30 ms.
 *
 * The server certificate names every host the fake Key Vault is reached by in tests: `127.0.0.1`,
 * `localhost` and `*.vault.azure.net` (the last one for tests that keep the SDK's challenge-resource check
 * on and map vault host names to 127.0.0.1 with a custom `lookup`; see fake-key-vault.ts).
 *
 * One CA per test process (memoized): every fake vault in a test file shares it.
 */
export interface TestCa {
  /** PEM of the CA certificate: what a client trusts (`tlsOptions.ca`, an Agent's `ca`). */
  caPem: string;
  /** PEM of the server certificate and its private key. */
  certPem: string;
  keyPem: string;
}

let memo: TestCa | undefined;

export function testCa(): TestCa {
  memo ??= makeCa();
  return memo;
}

function makeCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'uwd-ca-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=unwrapd test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=fake key vault']);
    writeFileSync(
      join(dir, 'ext.cnf'),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyAgreement',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.vault.azure.net',
        '',
      ].join('\n'),
    );
    run([
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
    return {
      caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      certPem: readFileSync(join(dir, 'server.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
