import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { isLoopbackListen } from '../auth/loopback.js';
import { ConfigError } from '../config/config.js';
import type { Logger } from '../log/logger.js';

/**
 * How a listener is secured, from its address and the TLS settings:
 *
 * - a Unix socket: no TLS (its file mode and group decide who can connect);
 * - TCP with `tlsCertFile` and `tlsKeyFile`: TLS; with `tlsClientCaFile` too, mTLS is required (a client without
 *   a certificate that CA verifies fails the handshake);
 * - TCP without a certificate on a loopback address (127.0.0.0/8, ::1, localhost): plaintext, with a warning;
 * - TCP without a certificate on any other address: refused (ConfigError naming `allowInsecureTcp`, exit 2 at
 *   `unwrapd serve`) unless `allowInsecureTcp` is set, then plaintext with a louder warning.
 *
 * The files are read strictly, once, at start: missing, unreadable, not PEM, a key that does not match the
 * certificate, or a key file group/world-accessible (like the keystore) each stop the start with the setting and
 * the path named. Called once per listener (data, admin).
 */
export interface TransportSecuritySettings {
  /** Server certificate chain (PEM), leaf first. */
  tlsCertFile: string;
  /** Private key of the server certificate (PEM, unencrypted); must be mode 0600 or stricter. */
  tlsKeyFile: string;
  /** CA certificates (PEM) that client certificates must chain to; set = mTLS required. */
  tlsClientCaFile: string;
  /** Serve plaintext on a non-loopback TCP address (acknowledging that anyone who can reach it can call). */
  allowInsecureTcp: boolean;
}

export function serverCredentials(
  listen: string,
  settings: TransportSecuritySettings,
  log: Logger,
): grpc.ServerCredentials {
  const tls = settings.tlsCertFile !== '' || settings.tlsKeyFile !== '' || settings.tlsClientCaFile !== '';
  if (listen.startsWith('unix://')) {
    if (tls) log.debug('TLS settings do not apply to a Unix socket listener', { listen });
    return grpc.ServerCredentials.createInsecure();
  }
  if (tls) return tlsCredentials(listen, settings, log);
  if (isLoopbackListen(listen)) {
    log.warn(
      'plaintext TCP on a loopback address: every local process can call, unauthenticated; set tlsCertFile/tlsKeyFile (and tlsClientCaFile for mTLS) or use a Unix socket',
      { listen },
    );
    return grpc.ServerCredentials.createInsecure();
  }
  if (!settings.allowInsecureTcp) {
    throw new ConfigError(
      `listen ${listen} is a non-loopback TCP address without TLS: set tlsCertFile and tlsKeyFile (and tlsClientCaFile for mTLS), listen on a Unix socket or a loopback address, or set allowInsecureTcp (UNWRAPD_ALLOW_INSECURE_TCP=true) to serve plaintext, unauthenticated gRPC to anyone who can reach it`,
    );
  }
  log.warn(
    'INSECURE: plaintext, unauthenticated gRPC on a non-loopback TCP address (allowInsecureTcp is set): anyone who can reach it can call, and nothing on the wire is protected',
    { listen },
  );
  return grpc.ServerCredentials.createInsecure();
}

function tlsCredentials(listen: string, s: TransportSecuritySettings, log: Logger): grpc.ServerCredentials {
  if (s.tlsCertFile === '')
    throw new ConfigError('tlsCertFile is required with tlsKeyFile or tlsClientCaFile (the server certificate, PEM)');
  if (s.tlsKeyFile === '')
    throw new ConfigError("tlsKeyFile is required with tlsCertFile (the server certificate's private key, PEM)");
  const certPem = readPem('tlsCertFile', s.tlsCertFile, false);
  const certs = certificates('tlsCertFile', s.tlsCertFile, certPem);
  const keyPem = readPem('tlsKeyFile', s.tlsKeyFile, true);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    // The message of a key parse error is not echoed: nothing of the key's content belongs in an error.
    throw new ConfigError(
      `tlsKeyFile ${abs(s.tlsKeyFile)} holds no usable PEM private key (an encrypted key is not supported)`,
    );
  }
  const leaf = certs[0]!;
  if (!leaf.checkPrivateKey(key))
    throw new ConfigError(
      `tlsKeyFile ${abs(s.tlsKeyFile)} is not the private key of the certificate in tlsCertFile ${abs(s.tlsCertFile)}`,
    );
  warnIfNotCurrent(leaf, 'tlsCertFile', s.tlsCertFile, log);

  let ca: Buffer | null = null;
  if (s.tlsClientCaFile !== '') {
    ca = readPem('tlsClientCaFile', s.tlsClientCaFile, false);
    const cas = certificates('tlsClientCaFile', s.tlsClientCaFile, ca);
    for (const c of cas)
      if (!c.ca)
        throw new ConfigError(
          `tlsClientCaFile ${abs(s.tlsClientCaFile)} holds a certificate that is not a CA: ${c.subject.replace(/\n/g, ', ')}`,
        );
  }
  const mode = ca ? 'mtls' : 'tls';
  log.info(
    ca
      ? 'mTLS required: callers are identified by their client certificates'
      : 'TLS without client certificates: callers are not authenticated (set tlsClientCaFile for mTLS)',
    {
      listen,
      tls: mode,
      certificate: leaf.subject.replace(/\n/g, ', '),
      valid_to: leaf.validTo,
    },
  );
  // A client CA set: requestCert and rejectUnauthorized, so a missing, expired or foreign certificate fails the handshake.
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: certPem, private_key: keyPem }], ca !== null);
}

function readPem(setting: string, path: string, secret: boolean): Buffer {
  const file = abs(path);
  let info: Stats;
  try {
    info = statSync(file);
  } catch (err) {
    throw new ConfigError(`${setting} ${file} cannot be read (${errno(err)})`);
  }
  if (!info.isFile()) throw new ConfigError(`${setting} ${file} is not a regular file`);
  const mode = info.mode & 0o777;
  if (secret && (mode & 0o077) !== 0) {
    throw new ConfigError(
      `${setting} ${file} has mode ${mode.toString(8).padStart(4, '0')}: it holds a private key and must not be accessible to group or others; fix it with: chmod 600 ${file}`,
    );
  }
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${setting} ${file} cannot be read (${errno(err)})`);
  }
  if (!data.includes('-----BEGIN ')) throw new ConfigError(`${setting} ${file} is not PEM (no -----BEGIN line)`);
  return data;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificates(setting: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('utf8').match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${setting} ${abs(path)} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new ConfigError(`${setting} ${abs(path)}: certificate ${i + 1} does not parse`);
    }
  });
}

function warnIfNotCurrent(cert: X509Certificate, setting: string, path: string, log: Logger): void {
  const now = Date.now();
  if (Date.parse(cert.validTo) < now)
    log.warn('the server certificate has expired: clients will refuse it', {
      setting,
      path: abs(path),
      valid_to: cert.validTo,
    });
  else if (Date.parse(cert.validFrom) > now)
    log.warn('the server certificate is not valid yet: clients will refuse it', {
      setting,
      path: abs(path),
      valid_from: cert.validFrom,
    });
}

function abs(path: string): string {
  return resolve(path);
}

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'error';
}
