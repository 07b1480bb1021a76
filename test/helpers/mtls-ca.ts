import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates for mTLS tests, made with the `openssl` CLI (OpenSSL 3.0 on Debian) in a temp dir removed at
 * once: a CA, a server certificate for 127.0.0.1/localhost, and client certificates that each test one rule of
 * caller identity (URI SAN > DNS SAN > CN) or one refusal (expired, another CA). P-256 keys, so all of it takes
 * a few hundred ms; memoized per test process.
 *
 * OpenSSL 3.0's `x509 -req` cannot date a certificate in the past (`-not_before`/`-not_after` arrived in 3.4),
 * so every client certificate is issued by `openssl ca`, whose `-startdate`/`-enddate` can.
 */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface MtlsCa {
  /** PEM of the CA that issued the server certificate and the client certificates (except `otherCa`). */
  caPem: string;
  /** Server certificate: SAN IP:127.0.0.1, DNS:localhost. */
  server: KeyPair;
  /** URI SAN `spiffe://example.org/ns/mail/sa/store`, DNS SAN `store.mail.example.org`, CN `store`. */
  spiffe: KeyPair;
  /** DNS SAN `indexer.mail.example.org` only (CN `indexer`). */
  dnsOnly: KeyPair;
  /** No SAN; CN `legacy-client`. */
  cnOnly: KeyPair;
  /** Like `spiffe` but valid only in January 2020. */
  expired: KeyPair;
  /** A client certificate with a URI SAN, issued by a different CA (`otherCaPem`). */
  otherCa: KeyPair;
  otherCaPem: string;
}

export const SPIFFE_ID = 'spiffe://example.org/ns/mail/sa/store';

let memo: MtlsCa | undefined;

export function mtlsCa(): MtlsCa {
  memo ??= make();
  return memo;
}

const CA_CONF = `
[ ca ]
default_ca = local
[ local ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
`;

function make(): MtlsCa {
  const dir = mkdtempSync(join(tmpdir(), 'uwd-mtls-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    writeFileSync(join(dir, 'ca.cnf'), CA_CONF);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    const makeCa = (name: string, cn: string) =>
      run([
        'req',
        '-x509',
        ...ec,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-subj',
        `/CN=${cn}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
    makeCa('ca', 'unwrapd mtls test CA');
    makeCa('other', 'some other CA');

    const issue = (
      name: string,
      cn: string,
      ext: string[],
      o: { ca?: string; start?: string; end?: string } = {},
    ): KeyPair => {
      const ca = o.ca ?? 'ca';
      run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
      writeFileSync(
        join(dir, `${name}.ext`),
        ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', ...ext, ''].join('\n'),
      );
      const dates = o.start && o.end ? ['-startdate', o.start, '-enddate', o.end] : ['-days', '2'];
      run([
        'ca',
        '-batch',
        '-notext',
        '-config',
        'ca.cnf',
        '-cert',
        `${ca}.pem`,
        '-keyfile',
        `${ca}.key`,
        '-in',
        `${name}.csr`,
        '-out',
        `${name}.pem`,
        '-extfile',
        `${name}.ext`,
        ...dates,
      ]);
      return { certPem: read(`${name}.pem`), keyPem: read(`${name}.key`) };
    };
    const client = 'extendedKeyUsage=clientAuth';
    return {
      caPem: read('ca.pem'),
      server: issue('server', 'unwrapd', ['extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
      spiffe: issue('spiffe', 'store', [client, `subjectAltName=URI:${SPIFFE_ID},DNS:store.mail.example.org`]),
      dnsOnly: issue('dns', 'indexer', [client, 'subjectAltName=DNS:indexer.mail.example.org']),
      cnOnly: issue('cn', 'legacy-client', [client]),
      expired: issue('expired', 'store', [client, `subjectAltName=URI:${SPIFFE_ID}`], {
        start: '20200101000000Z',
        end: '20200131000000Z',
      }),
      otherCa: issue('foreign', 'store', [client, `subjectAltName=URI:${SPIFFE_ID}`], { ca: 'other' }),
      otherCaPem: read('other.pem'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
