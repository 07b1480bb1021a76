import { join } from 'node:path';
import { setting } from './setting.js';
import { authorizationTable, boolean, integer, listenAddress, octalMode, roleList, text } from './setting-type.js';

/**
 * Who may call: socket modes and groups, default roles, the admin listener, the authorization table, TLS.
 * To add a setting: see src/config/settings.ts.
 */
export const TRUST_SETTINGS = [
  setting({
    key: 'socketMode',
    flag: 'socket-mode',
    env: 'UNWRAPD_SOCKET_MODE',
    type: octalMode,
    default: 0o660,
    summary: 'file mode of the data socket',
    description:
      'file mode of the data socket (`listen`): who in the pod may call. In force before the socket is connectable (bound in a private 0700 directory, then renamed into place)',
    group: 'trust',
  }),
  setting({
    key: 'socketGroup',
    flag: 'socket-group',
    env: 'UNWRAPD_SOCKET_GROUP',
    type: text,
    default: '',
    defaultText: "(the daemon's group)",
    summary: 'group (name or gid) of the data socket',
    description:
      'group of the data socket, a name from `/etc/group` or a numeric gid; set before the socket is connectable. With `socketMode` `0660`, members of this group may call',
    group: 'trust',
  }),
  setting({
    key: 'callerRoles',
    flag: 'caller-roles',
    env: 'UNWRAPD_CALLER_ROLES',
    type: roleList,
    default: 'user',
    summary: 'default roles of callers on the data listener',
    description:
      'roles (on every tenant) of callers on the data listener that the authorization table names no more precisely (no `data` entry, no entry for their identity): `user`, `system` (may claim `PURPOSE_SYSTEM`). The data listener serves only Crypto, so `admin` and `recovery` mean nothing there ([security.md](security.md))',
    group: 'trust',
  }),
  setting({
    key: 'adminListen',
    flag: 'admin-listen',
    env: 'UNWRAPD_ADMIN_LISTEN',
    type: listenAddress,
    default: (c) => `unix://${join(c.dataDir as string, 'admin.sock')}`,
    defaultText: '`unix://<dataDir>/admin.sock`',
    summary: 'the admin listener (Admin service only)',
    description:
      "the admin listener (Admin service only); a Unix socket is always mode `0600` (the daemon's user). Must differ from `listen`; keep it out of any volume the application shares ([security.md](security.md))",
    group: 'trust',
  }),
  setting({
    key: 'adminSocketRoles',
    flag: 'admin-socket-roles',
    env: 'UNWRAPD_ADMIN_SOCKET_ROLES',
    type: roleList,
    default: 'admin,user,system',
    summary: 'default roles of callers on the admin listener',
    description:
      'roles (on every tenant) of callers on the admin listener that the table names no more precisely. `recovery` (RollKey/Refresh with `recovery`, a forced Purge) is never a default: add it here or in the table',
    group: 'trust',
  }),
  setting({
    key: 'authorizationFile',
    flag: 'authorization-file',
    env: 'UNWRAPD_AUTHORIZATION_FILE',
    type: text,
    default: '',
    summary: 'JSON file holding the authorization table',
    description:
      'a JSON file holding the authorization table (an array of entries, [security.md](security.md)); validated at start, any error stops the daemon naming the entry and field',
    group: 'trust',
  }),
  setting({
    key: 'authorization',
    flag: null,
    env: null,
    type: authorizationTable,
    default: [],
    summary: 'the authorization table inline (config file only)',
    description:
      'the authorization table inline in the config file (a JSON array); not together with `authorizationFile`',
    group: 'trust',
  }),
  setting({
    key: 'denialAuditPerMinute',
    flag: 'denial-audit-per-minute',
    env: 'UNWRAPD_DENIAL_AUDIT_PER_MINUTE',
    type: integer(1, 100_000),
    default: 60,
    summary: 'access-denied audit records per caller per minute',
    description:
      '`access.denied` audit records (and warn log lines) per caller identity per minute; denials beyond it are counted (`GetStatus.access_denied`) and summarized in one record (`details.suppressed`), so a flood cannot grow the audit log without bound',
    group: 'trust',
  }),
  setting({
    key: 'tlsCertFile',
    flag: 'tls-cert-file',
    env: 'UNWRAPD_TLS_CERT_FILE',
    type: text,
    default: '',
    summary: 'server certificate chain (PEM) for a TCP listener',
    description:
      'server certificate chain (PEM, leaf first) for a TCP listen address; with `tlsKeyFile`, TCP serves TLS. Ignored for a Unix socket ([security.md](security.md#tls-and-mtls-on-tcp))',
    group: 'trust',
  }),
  setting({
    key: 'tlsKeyFile',
    flag: 'tls-key-file',
    env: 'UNWRAPD_TLS_KEY_FILE',
    type: text,
    default: '',
    summary: "the server certificate's private key (PEM, mode 0600)",
    description:
      'its private key (PEM, unencrypted); must be mode 0600 or stricter (group/world access refused, like the keystore) and match the certificate',
    group: 'trust',
  }),
  setting({
    key: 'tlsClientCaFile',
    flag: 'tls-client-ca-file',
    env: 'UNWRAPD_TLS_CLIENT_CA_FILE',
    type: text,
    default: '',
    summary: 'CA certificates of client certificates (set: mTLS required)',
    description:
      'CA certificates (PEM) client certificates must chain to; set = **mTLS required**, callers are `tls:<URI SAN, else DNS SAN, else CN>`',
    group: 'trust',
  }),
  setting({
    key: 'allowInsecureTcp',
    flag: 'allow-insecure-tcp',
    env: 'UNWRAPD_ALLOW_INSECURE_TCP',
    type: boolean,
    default: false,
    summary: 'serve plaintext on a non-loopback TCP address',
    description:
      'without a certificate, a non-loopback TCP listen address refuses to start (exit 2); `true` serves plaintext, unauthenticated gRPC there with a loud warning. Loopback (`127.0.0.0/8`, `::1`, `localhost`) serves plaintext with a warning either way',
    group: 'trust',
  }),
  setting({
    key: 'trustForwardedClientCert',
    flag: 'trust-forwarded-client-cert',
    env: 'UNWRAPD_TRUST_FORWARDED_CLIENT_CERT',
    type: boolean,
    default: false,
    summary: 'take the caller from x-forwarded-client-cert (loopback peer)',
    description:
      "take the caller from `x-forwarded-client-cert` (a mesh proxy's verified client certificate: `mesh:<id>`), only on TCP calls from a loopback peer; ignored otherwise ([security.md](security.md#service-mesh-identity-x-forwarded-client-cert))",
    group: 'trust',
  }),
] as const;
