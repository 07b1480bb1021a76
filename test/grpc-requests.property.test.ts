import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import { parseEnvelope } from '../src/crypto/envelope-format.js';
import { applyMutation, layoutOf, mutationArb, type Layout } from './helpers/envelope-mutations.js';
import { fuzzRuns } from './helpers/fuzz.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Request validation end to end: arbitrary Encrypt, Decrypt, Rewrap, EncryptBatch and DecryptBatch requests
 * (edge-case ids, request ids, purposes including unknown enum numbers, contexts, genuine, mutated and random
 * envelopes) sent to a real daemon. Every call (and every batch item) either succeeds, and a Decrypt then
 * returns the genuine plaintext for the genuine envelope and context only, or fails with a status a caller
 * can act on (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION):
 * never INTERNAL, UNKNOWN or UNAVAILABLE; and the daemon keeps serving a genuine Decrypt afterwards.
 *
 * Each case is a gRPC call (about a millisecond), so under `npm run fuzz` this property stops at 100,000 cases.
 */

const ACTIONABLE = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.NOT_FOUND,
  grpc.status.PERMISSION_DENIED,
  grpc.status.FAILED_PRECONDITION,
]);
const CONTEXT = { mailbox: 'alice' };
const PLAINTEXT = Buffer.from('hello, fuzz');

let d: TestDaemon;
const pool: Buffer[] = [];
let layouts: Layout[] = [];
test.before(async () => {
  d = await startTestDaemon({ providerTimeoutMs: 5_000 });
  await createPolicy(d.client, 'second');
  for (const [policyId, context] of [
    ['demo-mailbox', CONTEXT],
    ['second', {}],
    ['demo-mailbox', {}],
  ] as const) {
    pool.push((await d.client.encrypt({ tenant: 'demo', policyId, plaintext: PLAINTEXT, context })).envelope);
  }
  layouts = pool.map(layoutOf);
});
test.after.always(async () => {
  await d?.stop();
});

const edgyString = fc.oneof(
  fc.constantFrom(
    '',
    'demo',
    'demo-mailbox',
    'second',
    'nope',
    'a'.repeat(64),
    'a'.repeat(65),
    '../etc',
    'demo\u0000',
    'dÉmo',
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.integer({ min: 120, max: 135 }).map((n) => 'r'.repeat(n)),
);
const purposeArb = fc.constantFrom<string | number | undefined>(
  undefined,
  'PURPOSE_UNSPECIFIED',
  'PURPOSE_USER',
  'PURPOSE_SYSTEM',
  0,
  1,
  2,
  3,
  77,
);
const contextArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(CONTEXT) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 2, arbitrary: fc.dictionary(edgyString, edgyString, { maxKeys: 3 }) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 30, max: 34 })
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(600)]))),
  },
);
/** A genuine envelope, one mutated one to three times, random bytes, or nothing. */
const envelopeArb = fc.oneof(
  { weight: 2, arbitrary: fc.nat({ max: 2 }).map((i) => ({ genuine: i })) },
  {
    weight: 5,
    arbitrary: fc
      .tuple(fc.nat({ max: 2 }), fc.array(mutationArb(3), { minLength: 1, maxLength: 3 }))
      .map(([i, ms]) => ({ base: i, ms })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ bytes: Buffer.from(b) })) },
  { weight: 1, arbitrary: fc.constant({ bytes: undefined }) },
);
function envelopeOf(
  e:
    | { genuine: number }
    | { base: number; ms: ReturnType<typeof mutationArb> extends fc.Arbitrary<infer M> ? M[] : never }
    | { bytes: Buffer | undefined },
): Buffer | undefined {
  if ('genuine' in e) return pool[e.genuine];
  if ('bytes' in e) return e.bytes;
  let b = pool[e.base] as Buffer;
  for (const m of e.ms) b = applyMutation(b, m, layouts[e.base]!, pool, layouts);
  return b;
}

const requestArb = fc.record({
  method: fc.constantFrom('Encrypt', 'Decrypt', 'Rewrap', 'EncryptBatch', 'DecryptBatch'),
  tenant: fc.oneof({ weight: 4, arbitrary: fc.constant('demo') }, { weight: 1, arbitrary: edgyString }),
  policyId: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('demo-mailbox', 'second', '') },
    { weight: 1, arbitrary: edgyString },
  ),
  purpose: purposeArb,
  requestId: fc.option(edgyString, { nil: undefined }),
  context: contextArb,
  envelope: envelopeArb,
  items: fc.array(
    fc.record({ envelope: envelopeArb, context: contextArb, plaintext: fc.uint8Array({ maxLength: 64 }) }),
    { maxLength: 4 },
  ),
});

/** Whether `bytes` opened under `context` may give the plaintext: only a genuine envelope under its own context. */
function mayOpen(bytes: Buffer | undefined, context: Record<string, string>): boolean {
  const i = bytes ? pool.findIndex((g) => g.equals(bytes)) : -1;
  const own = i === 0 ? CONTEXT : {};
  return i >= 0 && JSON.stringify(Object.entries(context).sort()) === JSON.stringify(Object.entries(own).sort());
}

function checkStatus(code: number | undefined, what: string): void {
  if (code === undefined || !ACTIONABLE.has(code))
    throw new Error(`${what}: ${grpc.status[code ?? grpc.status.UNKNOWN]}`);
}

test('arbitrary requests get a result or an actionable status, never INTERNAL, and Decrypt opens only genuine envelopes', async (t) => {
  const counts = new Map<string, number>();
  const tally = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  await fc.assert(
    fc.asyncProperty(requestArb, async (r) => {
      const common = { tenant: r.tenant, purpose: r.purpose as never, requestId: r.requestId };
      const envelope = envelopeOf(r.envelope);
      try {
        switch (r.method) {
          case 'Encrypt': {
            const out = await d.client.encrypt({
              ...common,
              policyId: r.policyId,
              plaintext: PLAINTEXT,
              context: r.context,
            });
            if (!out.envelope || parseEnvelope(out.envelope).tenant !== r.tenant)
              throw new Error('Encrypt returned a malformed envelope');
            break;
          }
          case 'Decrypt': {
            const out = await d.client.decrypt({ ...common, envelope, context: r.context });
            if (!mayOpen(envelope, r.context) || !out.plaintext.equals(PLAINTEXT))
              throw new Error('Decrypt opened what it should not');
            break;
          }
          case 'Rewrap': {
            await d.client.rewrap({ ...common, envelope, context: r.context, targetPolicyId: r.policyId });
            if (!mayOpen(envelope, r.context)) throw new Error('Rewrap vouched for an envelope that does not open');
            break;
          }
          case 'EncryptBatch': {
            const out = await d.client.encryptBatch({
              ...common,
              policyId: r.policyId,
              items: r.items.map((i) => ({ plaintext: Buffer.from(i.plaintext), context: i.context })),
            });
            for (const res of out.results) if (res.error) checkStatus(res.error.code, 'EncryptBatch item');
            break;
          }
          case 'DecryptBatch': {
            const items = r.items.map((i) => ({ envelope: envelopeOf(i.envelope), context: i.context }));
            const out = await d.client.decryptBatch({ ...common, items });
            out.results.forEach((res, n) => {
              if (res.error) return checkStatus(res.error.code, 'DecryptBatch item');
              const item = items[n]!;
              if (!mayOpen(item.envelope, item.context) || !res.ok!.plaintext.equals(PLAINTEXT))
                throw new Error('DecryptBatch opened what it should not');
            });
            break;
          }
        }
        tally(`${r.method} OK`);
      } catch (err) {
        const e = err as { code?: number; details?: string };
        if (e.code === undefined) throw err;
        checkStatus(e.code, `${r.method} (${e.details})`);
        tally(`${r.method} ${grpc.status[e.code]}`);
      }
    }),
    { numRuns: Math.min(fuzzRuns(150), 100_000) },
  );
  t.log(
    [...counts]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', '),
  );
  // And the daemon still serves.
  const out = await d.client.decrypt({ tenant: 'demo', envelope: pool[0], context: CONTEXT });
  t.deepEqual(out.plaintext, PLAINTEXT);
});
