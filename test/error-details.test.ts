import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { providerError } from '../src/providers/provider-error.js';
import { MAX_STRING_BYTES, STREAM_MAX_CHUNK_BYTES } from '../src/server/request-limits.js';
import { mailboxPolicyRequest, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import {
  decodeStatusDetails as decode,
  errorInfoOf,
  PROTO_DIR as PROTO,
  type DecodedStatus as Decoded,
} from './helpers/status-details.js';

/**
 * Typed errors as a client in any language reads them: a plain grpc-js client (not src/client) built from the
 * .proto files, decoding `grpc-status-details-bin` with the vendored google/rpc protos, against a real daemon.
 * Each reason is produced by a real scenario.
 */
const pkg = grpc.loadPackageDefinition(
  protoLoader.loadSync(['unwrapd/v1/crypto.proto', 'unwrapd/v1/admin.proto'], {
    includeDirs: [PROTO],
    defaults: true,
    oneofs: true,
    enums: String,
    longs: String,
  }),
) as unknown as { unwrapd: { v1: Record<string, grpc.ServiceClientConstructor> } };

let d: TestDaemon;
let crypto: grpc.Client;
let admin: grpc.Client;
const seen: Decoded[] = [];
const SECRET = 'SECRET-PLAINTEXT-b7e1';
const CONTEXT_VALUE = 'context-value-5c2a';

test.before(async () => {
  d = await startTestDaemon({ maxBlockBytes: 4096 });
  crypto = new pkg.unwrapd.v1.Crypto!(d.daemon.address, grpc.credentials.createInsecure());
  admin = new pkg.unwrapd.v1.Admin!(d.daemon.adminAddress!, grpc.credentials.createInsecure());
});
test.after.always(async () => {
  crypto?.close();
  admin?.close();
  await d?.stop();
});

function call<T = unknown>(client: grpc.Client, method: string, req: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, grpc.requestCallback<T> & ((...a: unknown[]) => void)>)[method]!;
    fn.call(client, req, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

async function failure(p: Promise<unknown>): Promise<Decoded> {
  try {
    await p;
  } catch (err) {
    const decoded = decode(err as grpc.ServiceError);
    t_domain(decoded);
    seen.push(decoded);
    return decoded;
  }
  throw new Error('expected the call to fail');
}

function t_domain(x: Decoded): void {
  if (x.domain !== 'unwrapd.v1') throw new Error(`domain ${x.domain}`);
}

const encrypt = (policyId: string, extra: object = {}) =>
  call<{ envelope: Buffer }>(crypto, 'Encrypt', {
    tenant: 'demo',
    policyId,
    plaintext: Buffer.from(SECRET),
    context: { k: CONTEXT_VALUE },
    ...extra,
  });
const decrypt = (envelope: Buffer) =>
  call(crypto, 'Decrypt', { tenant: 'demo', envelope, context: { k: CONTEXT_VALUE } });

const createPolicy = (id: string, extra: object = {}) =>
  call(admin, 'CreatePolicy', { ...mailboxPolicyRequest(id), ...extra });

test.serial('request errors: POLICY_NOT_FOUND, INVALID_REQUEST, INVALID_CONTEXT, DECRYPTION_FAILED', async (t) => {
  t.like(await failure(encrypt('nope')), {
    code: grpc.status.NOT_FOUND,
    reason: 'POLICY_NOT_FOUND',
    metadata: { tenant: 'demo', policy_id: 'nope' },
  });
  t.like(await failure(encrypt('demo-mailbox', { tenant: '' })), {
    code: grpc.status.INVALID_ARGUMENT,
    reason: 'INVALID_REQUEST',
  });
  t.like(await failure(encrypt('demo-mailbox', { context: { '': CONTEXT_VALUE } })), {
    code: grpc.status.INVALID_ARGUMENT,
    reason: 'INVALID_CONTEXT',
  });
  const bad = await failure(decrypt(Buffer.from('not an envelope')));
  t.deepEqual(bad, {
    code: grpc.status.INVALID_ARGUMENT,
    message: 'decryption failed',
    reason: 'DECRYPTION_FAILED',
    domain: 'unwrapd.v1',
    metadata: {},
  });
  // A wrong context: the same single reason, nothing saying which check failed.
  const { envelope } = await encrypt('demo-mailbox');
  t.deepEqual(await failure(call(crypto, 'Decrypt', { tenant: 'demo', envelope, context: { k: 'other' } })), bad);
});

test.serial(
  'Admin errors: POLICY_EXISTS, KEY_NOT_FOUND, PURGE_REQUIRES_REVOKE, CUSTOMER_KEY_STILL_ACCESSIBLE',
  async (t) => {
    t.like(await failure(createPolicy('demo-mailbox')), {
      code: grpc.status.ALREADY_EXISTS,
      reason: 'POLICY_EXISTS',
      metadata: { tenant: 'demo', policy_id: 'demo-mailbox' },
    });
    t.like(await failure(createPolicy('no-key', { customerKeyA: 'local:no-such-key' })), {
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'KEY_NOT_FOUND',
      metadata: { role: 'customer-a', provider_reason: 'key_not_found' },
    });
    await createPolicy('to-purge');
    t.like(await failure(call(admin, 'Purge', { tenant: 'demo', id: 'to-purge' })), {
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'PURGE_REQUIRES_REVOKE',
      metadata: { tenant: 'demo', policy_id: 'to-purge', state: 'active' },
    });
    await call(admin, 'Revoke', { tenant: 'demo', id: 'to-purge', reason: 'test' });
    t.like(await failure(call(admin, 'Purge', { tenant: 'demo', id: 'to-purge' })), {
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'CUSTOMER_KEY_STILL_ACCESSIBLE',
      metadata: { tenant: 'demo', policy_id: 'to-purge' },
    });
  },
);

test.serial(
  'a revoked policy is POLICY_REVOKED for Encrypt, Decrypt, batches and streams; a purged one POLICY_PURGED',
  async (t) => {
    await createPolicy('revoked');
    const { envelope } = await encrypt('revoked');
    await call(admin, 'Revoke', { tenant: 'demo', id: 'revoked', reason: 'test' });
    const revoked = { code: grpc.status.FAILED_PRECONDITION, reason: 'POLICY_REVOKED' };
    const meta = { tenant: 'demo', policy_id: 'revoked', state: 'revoked' };
    t.like(await failure(encrypt('revoked')), { ...revoked, metadata: meta });
    t.like(await failure(decrypt(envelope)), { ...revoked, metadata: meta });

    // Batch items: the same Status, in the item.
    const batch = await call<{ results: Array<{ error?: { code: number; message: string; status: unknown } }> }>(
      crypto,
      'DecryptBatch',
      { tenant: 'demo', items: [{ envelope, context: { k: CONTEXT_VALUE } }, { envelope: Buffer.from('garbage') }] },
    );
    const items = batch.results.map((r) => {
      const s = r.error!.status as {
        code: number;
        message: string;
        details: Array<{ type_url: string; value: Buffer }>;
      };
      t.is(s.code, r.error!.code); // the deprecated fields repeat the status
      t.is(s.message, r.error!.message);
      const decoded = { code: s.code, message: s.message, ...errorInfoOf(s.details) };
      seen.push(decoded);
      return decoded;
    });
    t.like(items[0], { ...revoked, domain: 'unwrapd.v1', metadata: meta });
    t.like(items[1], { code: grpc.status.INVALID_ARGUMENT, reason: 'DECRYPTION_FAILED', metadata: {} });

    // A stream: the status ends the call, with its details.
    const stream = (
      crypto as unknown as { EncryptStream: () => grpc.ClientDuplexStream<object, object> }
    ).EncryptStream();
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => {});
    stream.write({ header: { tenant: 'demo', policyId: 'revoked' } });
    stream.end();
    t.like(await failure(Promise.reject(await ended)), { ...revoked, metadata: meta });

    await call(admin, 'Purge', { tenant: 'demo', id: 'revoked', force: true, reason: 'test' });
    t.like(await failure(encrypt('revoked')), {
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'POLICY_PURGED',
      metadata: { tenant: 'demo', policy_id: 'revoked', state: 'purged' },
    });
  },
);

test.serial('a retired key version is KEY_VERSION_RETIRED', async (t) => {
  await createPolicy('rotating');
  const { envelope } = await encrypt('rotating');
  await call(admin, 'RotateIntermediateKey', { tenant: 'demo', id: 'rotating', minDecryptVersion: 2 });
  t.like(await failure(decrypt(envelope)), {
    code: grpc.status.FAILED_PRECONDITION,
    reason: 'KEY_VERSION_RETIRED',
    metadata: { tenant: 'demo', policy_id: 'rotating', key_version: '1', min_decrypt_version: '2' },
  });
});

test.serial(
  'customer keys: revoked at the provider is CUSTOMER_KEYS_REVOKED, unreachable CUSTOMER_KEYS_UNAVAILABLE',
  async (t) => {
    const failWith = (reason: 'key_disabled' | 'timeout') => {
      d.provider.fail = (op, uri) =>
        op === 'unwrap' && uri.startsWith('local:demo-customer-') ? providerError(reason, uri, 'injected') : undefined;
    };
    t.teardown(() => (d.provider.fail = undefined));
    // files mode: no availability-key fallback, so an unreachable provider is the caller's error.
    await createPolicy('files-eu', { mode: 'POLICY_MODE_FILES', geo: 'eu' });
    await createPolicy('disabled');
    failWith('timeout');
    const unavailable = await failure(encrypt('files-eu'));
    t.like(unavailable, {
      code: grpc.status.UNAVAILABLE,
      reason: 'CUSTOMER_KEYS_UNAVAILABLE',
      metadata: { tenant: 'demo', policy_id: 'files-eu', key_version: '1' },
    });
    t.regex(unavailable.metadata.provider_reasons!, /timeout/);
    failWith('key_disabled');
    const revoked = await failure(encrypt('disabled'));
    t.like(revoked, {
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'CUSTOMER_KEYS_REVOKED',
      metadata: { tenant: 'demo', policy_id: 'disabled', key_version: '1' },
    });
    t.regex(revoked.metadata.provider_reasons!, /key_disabled/);
  },
);

test.serial(
  'a field over its limit is refused by the interceptor with LIMIT_EXCEEDED naming the limit and its value',
  async (t) => {
    t.like(await failure(encrypt('demo-mailbox', { requestId: 'r'.repeat(MAX_STRING_BYTES + 1) })), {
      code: grpc.status.RESOURCE_EXHAUSTED,
      reason: 'LIMIT_EXCEEDED',
      metadata: { limit: 'maxStringBytes', limit_value: String(MAX_STRING_BYTES) },
    });
    const whole = await failure(encrypt('demo-mailbox', { plaintext: Buffer.alloc(4096 + 64 * 1024 + 1) }));
    t.like(whole, {
      code: grpc.status.RESOURCE_EXHAUSTED,
      reason: 'LIMIT_EXCEEDED',
      metadata: { limit: 'maxRequestBytes' },
    });
    t.true(Number(whole.metadata.limit_value) >= 4096);
    // A stream chunk over its limit.
    const stream = (
      crypto as unknown as { EncryptStream: () => grpc.ClientDuplexStream<object, object> }
    ).EncryptStream();
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => {});
    stream.write({ header: { tenant: 'demo', policyId: 'demo-mailbox' } });
    stream.write({ chunk: Buffer.alloc(STREAM_MAX_CHUNK_BYTES + 1) });
    stream.end();
    t.like(await failure(Promise.reject(await ended)), {
      code: grpc.status.RESOURCE_EXHAUSTED,
      reason: 'LIMIT_EXCEEDED',
      metadata: { limit: 'streamMaxChunkBytes', limit_value: String(STREAM_MAX_CHUNK_BYTES) },
    });
    // A block over maxBlockBytes that fits the request limit: the handler's check, same reason.
    t.like(await failure(encrypt('demo-mailbox', { plaintext: Buffer.alloc(4097) })), {
      code: grpc.status.INVALID_ARGUMENT,
      reason: 'LIMIT_EXCEEDED',
      metadata: { limit: 'maxBlockBytes', limit_value: '4096' },
    });
  },
);

test.serial('no message or metadata carries plaintext, context values or envelope bytes', (t) => {
  t.true(seen.length >= 15);
  for (const s of seen) {
    const text = JSON.stringify(s);
    t.false(text.includes(SECRET), text);
    t.false(text.includes(CONTEXT_VALUE), text);
    t.false(/PRIVATE KEY|BEGIN /.test(text), text);
    t.regex(s.reason, /^[A-Z][A-Z0-9_]{0,62}$/);
  }
});

test('authorization: TENANT_NOT_ALLOWED and ROLE_NOT_GRANTED, with the missing grant in metadata', async (t) => {
  const limited = await startTestDaemon({ authorization: [{ identity: 'data', roles: ['user'], tenants: ['demo'] }] });
  const c = new pkg.unwrapd.v1.Crypto!(limited.daemon.address, grpc.credentials.createInsecure());
  t.teardown(async () => {
    c.close();
    await limited.stop();
  });
  const req = { tenant: 'elsewhere', policyId: 'p', plaintext: Buffer.from(SECRET) };
  t.like(await failure(call(c, 'Encrypt', req)), {
    code: grpc.status.PERMISSION_DENIED,
    reason: 'TENANT_NOT_ALLOWED',
    metadata: { tenant: 'elsewhere' },
  });
  t.like(await failure(call(c, 'Encrypt', { ...req, tenant: 'demo', purpose: 'PURPOSE_SYSTEM' })), {
    code: grpc.status.PERMISSION_DENIED,
    reason: 'ROLE_NOT_GRANTED',
    metadata: { role: 'system' },
  });
});

test.serial(
  'the Node client exposes reason and errorInfo on call errors, stream errors and batch item errors',
  async (t) => {
    await createPolicy('client-revoked');
    const { envelope } = await encrypt('client-revoked');
    await call(admin, 'Revoke', { tenant: 'demo', id: 'client-revoked', reason: 'test' });
    const meta = { tenant: 'demo', policy_id: 'client-revoked', state: 'revoked' };
    const err = await d.client.decrypt({ tenant: 'demo', envelope, context: { k: CONTEXT_VALUE } }).catch((e) => e);
    t.is(err.code, grpc.status.FAILED_PRECONDITION);
    t.is(err.reason, 'POLICY_REVOKED');
    t.deepEqual(err.errorInfo, { reason: 'POLICY_REVOKED', domain: 'unwrapd.v1', metadata: meta });
    t.true(err.metadata instanceof grpc.Metadata); // grpc-js's trailers, untouched
    const streamErr = await (async () => {
      for await (const _ of d.client.encryptStream({ tenant: 'demo', policyId: 'client-revoked' }, [Buffer.from('x')]));
    })().catch((e) => e);
    t.is(streamErr.reason, 'POLICY_REVOKED');
    const batch = await d.client.decryptBatch({ tenant: 'demo', items: [{ envelope, context: { k: CONTEXT_VALUE } }] });
    t.like(batch.results[0]!.error, { reason: 'POLICY_REVOKED', errorInfo: { metadata: meta } });
  },
);
