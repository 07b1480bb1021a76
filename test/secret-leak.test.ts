import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { buffer as collect } from 'node:stream/consumers';
import { kwpUnwrap } from '../src/crypto/aes-kwp.js';
import { parseEnvelope } from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { createLogger } from '../src/log/logger.js';
import { openLocalKeystore } from '../src/providers/local-keystore.js';
import { providerError } from '../src/providers/provider-error.js';
import { policyKeysFromFiles, type KeystoreFile } from './helpers/policy-key-files.js';
import { codeOf, createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// The secret-leak scenario: a real daemon over real gRPC, logging at debug, runs every kind of call (encrypt,
// decrypt, batches, streams, rewrap, roll, rotate, refresh, revoke, purge, an availability-key fallback and
// failing calls); then no key it used (the root keys' private key material, every intermediate key, KEK and
// data key) and no plaintext appears in the log output or the audit log, as hex, base64 or base64url (at any
// byte alignment), nor the plaintext as text.

interface Secret {
  name: string;
  bytes: Buffer;
  /** Text to look for as is (the plaintext). */
  text?: string;
}

/** Every form a leak of `bytes` would take inside a longer hex, base64 or base64url string (any alignment). */
function needles(bytes: Buffer): string[] {
  const out = [bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
  for (let a = 0; a < 3; a++) {
    // Encoded after `a` other bytes: the first and last 4-character groups mix with the neighbours' bits.
    const b64 = Buffer.concat([Buffer.alloc(a), bytes]).toString('base64');
    const middle = b64.slice(a === 0 ? 0 : 4, b64.length - 4);
    out.push(middle, middle.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/**
 * A secret and its windows: a leak of part of it is a leak too. Keys: the whole key and each 16-byte half
 * (random bytes: 16 are as distinctive as 32); longer secrets: every 32-byte window at a 16-byte stride, so
 * any 48 contiguous bytes of it are found.
 */
function pieces(s: Secret): Array<{ name: string; bytes: Buffer }> {
  const out = [{ name: s.name, bytes: s.bytes }];
  const size = s.bytes.length <= 48 ? 16 : 32;
  for (let at = 0; at + size <= s.bytes.length; at += 16)
    out.push({ name: `${s.name} [${at}, ${at + size})`, bytes: s.bytes.subarray(at, at + size) });
  return out;
}

function occurrences(haystack: string, secrets: Secret[]): string[] {
  const found: string[] = [];
  for (const s of secrets) {
    for (const p of pieces(s)) {
      for (const n of new Set(needles(p.bytes)))
        if (haystack.includes(n)) found.push(`${p.name} as ${JSON.stringify(n.slice(0, 24))}...`);
    }
    if (s.text && haystack.includes(s.text)) found.push(`${s.name} as text`);
  }
  return found;
}

const lines: string[] = [];
let d: TestDaemon;

test.before(async () => {
  d = await startTestDaemon({}, { log: createLogger('debug', {}, (l) => lines.push(l)) });
});
test.after.always(async () => {
  await d?.stop();
});

/** Private key material of every root key in the keystore file: 48-byte windows of each key's DER. */
async function rootKeyMaterial(): Promise<Secret[]> {
  const keystore = JSON.parse(await readFile(d.config.keystorePath, 'utf8')) as KeystoreFile;
  const out: Secret[] = [];
  for (const [name, key] of Object.entries(keystore.keys))
    for (const v of key.versions) {
      if (!v.privateKeyPem) continue;
      const der = createPrivateKey(v.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
      for (let at = 64; at + 48 <= der.length; at += 256)
        out.push({ name: `root key ${name}/${v.version} DER@${at}`, bytes: der.subarray(at, at + 48) });
      // The PEM's base64 lines as text too (a leak of the file's content as is).
      const body = v.privateKeyPem.split('\n').filter((l) => l.length === 64);
      for (const [i, line] of body.slice(2, 6).entries())
        out.push({ name: `root key ${name}/${v.version} PEM line ${i}`, bytes: Buffer.alloc(0), text: line });
    }
  return out.map((s) => (s.bytes.length === 0 ? { ...s, bytes: Buffer.from(s.text!) } : s));
}

/** Every intermediate key of the policy (one per version, unwrapped from the customer-a copy) and its KEK. */
async function policyKeys(policyId: string): Promise<Secret[]> {
  const { versions } = await policyKeysFromFiles(d.config, 'demo', policyId);
  return versions.flatMap(({ version, ik, kek }) => [
    { name: `${policyId} v${version} intermediate key`, bytes: ik },
    { name: `${policyId} v${version} KEK`, bytes: kek },
  ]);
}

/** The data key inside a block envelope, unwrapped with the KEK it names. */
function dataKey(envelope: Buffer, keys: Secret[]): Secret {
  const parsed = parseEnvelope(envelope);
  const kek = keys.find((k) => k.name === `${parsed.policyId} v${parsed.keyVersion} KEK`)!;
  return {
    name: `data key of an envelope of ${parsed.policyId} v${parsed.keyVersion}`,
    bytes: Buffer.from(kwpUnwrap(SecretKey.copyFrom(kek.bytes), parsed.wrappedKey)),
  };
}

test('a positive control: the search finds a key, part of a key or part of a plaintext, at any offset and in any encoding', (t) => {
  const key = randomBytes(32);
  const wholeKey = (text: string) => occurrences(`{"x":"${text}"}`, [{ name: 'k', bytes: key }]);
  for (let offset = 0; offset < 6; offset++) {
    const framed = Buffer.concat([randomBytes(offset + 7), key, randomBytes(5)]);
    for (const text of [framed.toString('hex'), framed.toString('base64'), framed.toString('base64url')])
      t.true(
        wholeKey(text).some((f) => f.startsWith('k as ')),
        `offset ${offset}: ${wholeKey(text).join(', ')}`,
      );
    t.true(wholeKey(framed.subarray(offset + 7 + 16).toString('base64')).length > 0, 'half a key');
  }
  const plaintext = Buffer.from(`canary-${randomBytes(40).toString('hex')} and some words after it`);
  const secret = [{ name: 'p', bytes: plaintext, text: 'canary-' }];
  for (let cut = 1; cut < 6; cut++) {
    t.true(occurrences(plaintext.subarray(cut).toString('base64url'), secret).length > 0, `cut ${cut}`);
    t.true(occurrences(plaintext.subarray(0, 60 + cut).toString('hex'), secret).length > 0, `cut ${cut}`);
  }
  t.deepEqual(occurrences(randomBytes(4096).toString('base64'), [{ name: 'k', bytes: key }]), []);
});

test('no key bytes and no plaintext in the logs (debug level) or the audit log, after every kind of call', async (t) => {
  const canary = `unwrapd-leak-canary-${randomBytes(24).toString('hex')}`;
  const plaintext = Buffer.from(`${canary}: the mailbox of alice holds the quarterly figures, 4711 and 0815.`);
  const context = { mailbox: 'alice' };
  const secrets: Secret[] = [{ name: 'plaintext', bytes: plaintext, text: canary }];
  const client = d.client;
  await createPolicy(client, 'leak-main');
  await createPolicy(client, 'leak-other');
  await createPolicy(client, 'leak-purge');
  const tenant = 'demo';

  // Encrypt, Decrypt, batches, streams, Rewrap.
  const { envelope } = await client.encrypt({ tenant, policyId: 'leak-main', plaintext, context, requestId: 'leak-1' });
  t.deepEqual((await client.decrypt({ tenant, envelope, context })).plaintext, plaintext);
  const batch = await client.encryptBatch({
    tenant,
    policyId: 'leak-main',
    items: [{ plaintext, context }, { plaintext: Buffer.concat([plaintext, plaintext]) }],
  });
  const sealed = batch.results.map((r) => r.ok!.envelope!);
  const opened = await client.decryptBatch({
    tenant,
    items: [
      { envelope: sealed[0]!, context },
      { envelope: sealed[1]!, context: { mailbox: 'mallory' } }, // a failing item
    ],
  });
  t.truthy(opened.results[1]!.error);
  const streamed = await collect(
    client.encryptStream({ tenant, policyId: 'leak-main', context }, [Buffer.concat(Array(2000).fill(plaintext))]),
  );
  t.is((await collect(client.decryptStream({ tenant, context }, [streamed]))).length, 2000 * plaintext.length);
  const rewrapped = (await client.rewrap({ tenant, envelope, context, targetPolicyId: 'leak-other' })).envelope;

  // Failing calls: wrong context, tampered envelope and stream, wrong tenant, unknown policy, too large.
  t.is(
    (await codeOf(client.decrypt({ tenant, envelope, context: { mailbox: 'bob' } }))).code,
    grpc.status.INVALID_ARGUMENT,
  );
  const tampered = Buffer.from(envelope);
  tampered[tampered.length - 1]! ^= 1;
  t.is((await codeOf(client.decrypt({ tenant, envelope: tampered, context }))).code, grpc.status.INVALID_ARGUMENT);
  const badStream = Buffer.from(streamed);
  badStream[Math.floor(badStream.length / 2)]! ^= 1;
  t.is(
    (await codeOf(collect(client.decryptStream({ tenant, context }, [badStream])))).code,
    grpc.status.INVALID_ARGUMENT,
  );
  t.is((await codeOf(client.decrypt({ tenant: 'other', envelope, context }))).code, grpc.status.INVALID_ARGUMENT);
  t.is((await codeOf(client.encrypt({ tenant, policyId: 'no-such', plaintext }))).code, grpc.status.NOT_FOUND);

  // The customer keys fail: the availability key serves (mailbox mode), audited and logged.
  await client.evict({ tenant, id: 'leak-main' });
  d.provider.fail = (op, uri) =>
    op === 'unwrap' && uri.includes('customer')
      ? providerError('server_error', uri, 'injected: vault down')
      : undefined;
  try {
    await client.decrypt({ tenant, envelope, context });
  } finally {
    d.provider.fail = undefined;
  }

  // Lifecycle: roll, refresh, rotate; revoke and purge another policy.
  await openLocalKeystore(d.config.keystorePath).rotateKey('demo-customer-a');
  await client.rollKey({ tenant, id: 'leak-main', role: 'customer-a' });
  await client.refresh({ tenant, id: 'leak-main' });
  await client.rotateIntermediateKey({ tenant, id: 'leak-main' });
  const rotated = (await client.encrypt({ tenant, policyId: 'leak-main', plaintext, context })).envelope;
  await client.encrypt({ tenant, policyId: 'leak-purge', plaintext, context });
  const purgeKeys = [...(await policyKeys('leak-purge')), ...(await rootKeyMaterial())]; // before purge destroys any
  await client.revoke({ tenant, id: 'leak-purge', reason: 'leak test' });
  t.is(
    (await codeOf(client.encrypt({ tenant, policyId: 'leak-purge', plaintext }))).code,
    grpc.status.FAILED_PRECONDITION,
  );
  await client.purge({ tenant, id: 'leak-purge', force: true, reason: 'leak test' });

  // Everything the daemon wrote about it (close() waits for queued appends).
  await d.daemon.audit.close();
  const keys = [...(await policyKeys('leak-main')), ...(await policyKeys('leak-other'))];
  secrets.push(
    ...keys,
    ...purgeKeys,
    ...(await rootKeyMaterial()),
    dataKey(envelope, keys),
    dataKey(sealed[0]!, keys),
    dataKey(rewrapped, keys),
    dataKey(rotated, keys),
  );
  const audit = await readFile(d.daemon.audit.path, 'utf8');
  const logs = lines.join('');
  t.true(lines.length >= 20, `the scenario logged (${lines.length} lines)`);
  t.true(logs.includes('"level":"debug"'), 'debug lines were written');
  t.true(logs.includes('fallback to availability key'));
  t.true(audit.includes('availability_key.used') && audit.includes('policy.purged'));
  t.true(secrets.length > 20, `${secrets.length} secrets`);
  t.deepEqual(occurrences(logs, secrets), [], 'the log output');
  t.deepEqual(occurrences(audit, secrets), [], 'the audit log');
});
