import test from 'ava';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { SecretKey } from '../src/crypto/secret-key.js';
import { UnwrapdError } from '../src/errors.js';
import { createLogger, errorField, type LogFields } from '../src/log/logger.js';
import { isSensitiveName, redact } from '../src/log/redact.js';

const SECRET = 'S3CRET-9f1c2e7a-do-not-log';

/** One line logged at debug with `fields`: its text and its parsed object. */
function logged(fields: LogFields): { line: string; rec: Record<string, unknown> } {
  const lines: string[] = [];
  createLogger('debug', {}, (l) => lines.push(l)).debug('x', fields);
  return { line: lines[0]!, rec: JSON.parse(lines[0]!) as Record<string, unknown> };
}

// Every word that must make a field sensitive, stated here rather than imported from src/log/redact.ts: a word
// dropped from the code's list fails this test, which a test reading the list back could never do. The code may
// redact more (the next test guards the identifiers that must stay readable).
const SENSITIVE_WORDS = [
  // key material
  ...['key', 'keys', 'kek', 'dek', 'ik', 'material', 'pem'],
  // secrets and credentials
  ...['secret', 'secrets', 'token', 'tokens', 'password', 'passphrase', 'pin', 'credential', 'credentials'],
  ...['authorization', 'cookie'],
  // content, in the clear or sealed
  ...['plaintext', 'ciphertext', 'envelope', 'envelopes', 'chunk', 'data', 'bytes', 'payload'],
];
const styles = (w: string) => [
  w,
  w.toUpperCase(),
  `data_${w}`,
  `private-${w}`,
  `client.${w}`,
  `wrapped${w[0]!.toUpperCase()}${w.slice(1)}`,
  `X_${w.toUpperCase()}`,
];

test('every sensitive field name is redacted in every naming style, whatever the value', (t) => {
  for (const word of SENSITIVE_WORDS) {
    for (const name of styles(word)) {
      t.true(isSensitiveName(name), name);
      for (const value of [SECRET, { inner: SECRET }, [SECRET], Buffer.from(SECRET), 42]) {
        const { line, rec } = logged({ [name]: value });
        t.is(rec[name], '[redacted]', name);
        t.false(line.includes(SECRET), name);
      }
    }
  }
});

test('identifiers that merely mention a key are kept: key_uri, keyId, key_name, and the request fields', (t) => {
  const kept = {
    key_uri: 'local:a/1',
    keyUri: 'local:a/2',
    keyId: 'k1',
    key_name: 'a',
    key_version: 3,
    tenant: 'demo',
    request_id: 'r-1',
    caller: 'unix:/s',
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    metadata: 'm',
    details: 'd',
    keyed_by: 'k',
  };
  const { rec } = logged(kept);
  for (const [k, v] of Object.entries(kept)) t.is(rec[k], v, k);
});

test('nested objects and arrays are redacted at every depth', (t) => {
  const { line, rec } = logged({
    details: {
      key: SECRET,
      keyUri: 'local:a/1',
      inner: { plaintext: SECRET, list: [{ token: SECRET }, SECRET.length] },
    },
    items: [{ data: SECRET }, [{ dataKey: SECRET }], { ok: 'visible' }],
    nullProto: Object.assign(Object.create(null) as object, { secret: SECRET }),
  });
  t.false(line.includes(SECRET));
  t.deepEqual(rec.details, {
    key: '[redacted]',
    keyUri: 'local:a/1',
    inner: { plaintext: '[redacted]', list: [{ token: '[redacted]' }, SECRET.length] },
  });
  t.deepEqual(rec.items, [{ data: '[redacted]' }, [{ dataKey: '[redacted]' }], { ok: 'visible' }]);
  t.deepEqual(rec.nullProto, { secret: '[redacted]' });
});

test('buffers log as their length at any depth; class instances as their class name only', (t) => {
  const key = SecretKey.copyFrom(Buffer.from(`${SECRET}-0123456789abcdef`));
  const rsa = createPrivateKey(
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  const { line, rec } = logged({
    blob: Buffer.from(SECRET),
    nested: {
      u8: new Uint8Array(Buffer.from(SECRET)),
      ab: new Uint8Array(Buffer.from(SECRET)).buffer,
      deep: [Buffer.from(SECRET)],
    },
    secretKeyObject: key,
    held: { k: key, rsa, map: new Map([['x', SECRET]]), set: new Set([SECRET]) },
  });
  t.false(line.includes(SECRET));
  t.false(line.includes(Buffer.from(SECRET).toString('hex')));
  t.false(line.includes(Buffer.from(SECRET).toString('base64')));
  t.is(rec.blob, `[${SECRET.length} bytes]`);
  t.deepEqual(rec.nested, {
    u8: `[${SECRET.length} bytes]`,
    ab: `[${SECRET.length} bytes]`,
    deep: [`[${SECRET.length} bytes]`],
  });
  t.is(rec.secretKeyObject, '[SecretKey]');
  t.deepEqual(rec.held, { k: '[SecretKey]', rsa: '[PrivateKeyObject]', map: '[Map]', set: '[Set]' });
});

test("an error logs its name, code and message; its cause only as name and code, and never the error's own data", (t) => {
  const cause = Object.assign(new Error(`provider said ${SECRET}`), { code: 'E_PROVIDER', body: SECRET });
  const err = Object.assign(new UnwrapdError('unavailable', 'customer keys unavailable', { cause }), {
    wrappedKey: SECRET,
    response: { data: SECRET },
  });
  for (const fields of [
    { error: err },
    { details: { error: err } },
    { failures: [{ role: 'customer-a', error: err }] },
  ]) {
    const { line } = logged(fields);
    t.false(line.includes(SECRET), line);
    t.true(line.includes('customer keys unavailable'));
    t.true(line.includes('E_PROVIDER'));
  }
  const { rec } = logged({ error: err });
  t.deepEqual(rec.error, {
    name: 'UnwrapdError',
    code: 'unavailable',
    message: 'customer keys unavailable',
    cause: { name: 'Error', code: 'E_PROVIDER' },
  });
  // errorField of something that is not an Error: made safe the same way.
  t.false(JSON.stringify(errorField({ key: SECRET, nested: { plaintext: SECRET } })).includes(SECRET));
  t.is(errorField('plain text'), 'plain text');
});

test('circular structures, deep nesting, bigints and long strings cannot break or flood a line', (t) => {
  const loop: Record<string, unknown> = { name: 'loop' };
  loop.self = loop;
  let deep: Record<string, unknown> = { key: SECRET };
  for (let i = 0; i < 20; i++) deep = { next: deep };
  const { line, rec } = logged({ loop, deep, big: 2n ** 70n, long: 'x'.repeat(100_000) });
  t.false(line.includes(SECRET));
  t.deepEqual(rec.loop, { name: 'loop', self: '[circular]' });
  t.true(line.includes('[depth]'));
  t.is(rec.big, (2n ** 70n).toString());
  t.true(line.length < 10_000);
});

test("the logger's own fields are redacted too, once, and a child's fields are kept", (t) => {
  const lines: string[] = [];
  const log = createLogger('info', { token: SECRET, service: 'unwrapd' }, (l) => lines.push(l)).child({
    nested: { password: SECRET },
  });
  log.info('a');
  log.info('b', { tenant: 'demo' });
  for (const l of lines) t.false(l.includes(SECRET));
  const rec = JSON.parse(lines[1]!) as Record<string, unknown>;
  t.is(rec.service, 'unwrapd');
  t.is(rec.tenant, 'demo');
  t.deepEqual(rec.nested, { password: '[redacted]' });
});

test('redact() keeps plain values and does not touch its input', (t) => {
  const input = { key: SECRET, n: 1, b: true, s: 'x', nil: null, nested: { data: SECRET } };
  const copy = structuredClone(input);
  const out = redact(input);
  t.deepEqual(input, copy);
  t.deepEqual(out, { key: '[redacted]', n: 1, b: true, s: 'x', nil: null, nested: { data: '[redacted]' } });
});
