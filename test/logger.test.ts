import test from 'ava';
import { createLogger } from '../src/log/logger.js';
import { SecretKey } from '../src/crypto/secret-key.js';

test('log fields named like secrets or content are redacted whatever their value', (t) => {
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l));
  log.info('x', {
    plaintext: 'SECRET1',
    envelope: 'SECRET2',
    key: 'SECRET3',
    data_key: 'SECRET4',
    kek: 'SECRET5',
    token: 'SECRET6',
    key_uri: 'local:a/1',
    key_name: 'a',
    tenant: 'demo',
  });
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  for (const f of ['plaintext', 'envelope', 'key', 'data_key', 'kek', 'token']) t.is(rec[f], '[redacted]', f);
  t.is(rec.key_uri, 'local:a/1');
  t.is(rec.key_name, 'a');
  t.is(rec.tenant, 'demo');
  t.false(lines[0]!.includes('SECRET'));
});

test('buffers are logged as their length only, and a SecretKey as a placeholder', (t) => {
  const lines: string[] = [];
  const log = createLogger('info', {}, (l) => lines.push(l));
  log.info('x', {
    blob: Buffer.from('SECRET-BYTES'),
    secretish: SecretKey.copyFrom(Buffer.from('SECRET-KEY-BYTES-0123456789abcdef')),
  });
  t.false(lines[0]!.includes('SECRET-BYTES'));
  t.false(lines[0]!.includes('SECRET-KEY'));
  t.regex(lines[0]!, /\[12 bytes\]/);
});

test('levels below the threshold are dropped', (t) => {
  const lines: string[] = [];
  const log = createLogger('warn', {}, (l) => lines.push(l));
  log.info('quiet');
  log.warn('loud');
  t.is(lines.length, 1);
});
