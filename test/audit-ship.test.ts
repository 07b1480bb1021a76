import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordHash, type AuditRecord } from '../src/audit/audit-record.js';
import { createPolicy, startTestDaemon } from './helpers/test-daemon.js';
import { waitFor } from './helpers/wait-for.js';

/** The JSON lines `auditShip` writes match the schema docs/audit.md documents, and are the records as hashed. */

type Schema = {
  type?: string | string[];
  required?: string[];
  additionalProperties?: boolean | Schema;
  properties?: Record<string, Schema>;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
};

/** The JSON Schema block under "The JSON-lines schema" in docs/audit.md. */
async function documentedSchema(): Promise<Schema> {
  const doc = await readFile(new URL('../docs/audit.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### The JSON-lines schema'));
  const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (!block) throw new Error('docs/audit.md has no JSON schema block under "The JSON-lines schema"');
  return JSON.parse(block) as Schema;
}

/** The problems of `value` against the subset of JSON Schema the documented schema uses. */
function check(value: unknown, schema: Schema, at = '$'): string[] {
  const problems: string[] = [];
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const typeOf = (v: unknown) =>
    Number.isInteger(v) ? 'integer' : Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
  if (types.length > 0 && !types.some((t) => t === typeOf(value) || (t === 'number' && typeof value === 'number')))
    problems.push(`${at}: ${typeOf(value)} is not ${types.join('|')}`);
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: ${String(value)} is not one of the enum`);
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern).test(value))
    problems.push(`${at}: does not match ${schema.pattern}`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum)
    problems.push(`${at}: below ${schema.minimum}`);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) problems.push(`${at}: ${r} is missing`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) problems.push(...check(v, sub, `${at}.${k}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: ${k} is not in the schema`);
      else if (typeof schema.additionalProperties === 'object')
        problems.push(...check(v, schema.additionalProperties, `${at}.${k}`));
    }
  }
  return problems;
}

test('every shipped JSON line matches the documented schema and is the record as hashed', async (t) => {
  const schema = await documentedSchema();
  const out = await mkdtemp(join(tmpdir(), 'uwd-ship-'));
  const shipped = join(out, 'audit.jsonl');
  const d2 = await startTestDaemon({ auditShip: shipped });
  t.teardown(async () => {
    await d2.stop();
    await rm(out, { recursive: true, force: true });
  });
  await createPolicy(d2.client, 'shipped');
  await d2.client.rotateIntermediateKey({ tenant: 'demo', id: 'shipped', minDecryptVersion: 0 });
  await d2.client.evict({ tenant: 'demo', id: 'shipped' });
  await d2.client.revoke({ tenant: 'demo', id: 'shipped', reason: 'customer request' });
  const trail = await d2.daemon.audit.list({}, 1000);
  const newest = trail[trail.length - 1]!.seq;
  // Shipping writes after the record is durable, asynchronously: wait until the newest record is shipped.
  const read = async () => (await readFile(shipped, 'utf8').catch(() => '')).trimEnd().split('\n');
  await waitFor(async () => (await read()).some((l) => l.includes(`"seq":${newest},`)), 'the newest record shipped');
  const lines = await read();
  t.true(lines.length >= 4);
  t.deepEqual(
    lines
      .map((l) => (JSON.parse(l) as AuditRecord).type)
      .filter((_, i) => JSON.parse(lines[i]!).policyId === 'shipped'),
    ['policy.created', 'policy.rotated', 'cache.evicted', 'policy.revoked'],
  );
  for (const line of lines) {
    const value = JSON.parse(line) as Record<string, unknown>;
    t.deepEqual(check(value, schema), [], line);
    const { schema: _schema, hash, ...body } = value;
    t.is(
      recordHash(body as Omit<AuditRecord, 'hash'>),
      hash as string,
      'without `schema` the line is the record as hashed',
    );
  }
  const shippedSeqs = lines.map((l) => (JSON.parse(l) as AuditRecord).seq);
  for (const r of trail) t.true(shippedSeqs.includes(r.seq), `record ${r.seq} was shipped`);
  // The checker itself catches what the schema forbids.
  t.notDeepEqual(check({ ...JSON.parse(lines[0]!), extra: 1 }, schema), []);
  t.notDeepEqual(check({ ...JSON.parse(lines[0]!), seq: 0 }, schema), []);
});
