import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import { CryptoService, type CryptoServiceOptions } from '../src/core/crypto-service.js';
import { encodeContext, validateContext, type EncryptionContext } from '../src/crypto/encryption-context.js';
import { MAX_ENVELOPE_OVERHEAD, validateRef, type EnvelopeRef } from '../src/crypto/envelope-format.js';
import { deriveWrappingKey, sealBlock } from '../src/crypto/envelope.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { silentLogger } from '../src/log/logger.js';
import { ID_PATTERN, type PolicyRecord } from '../src/registry/policy.js';
import { validatePolicyRecord } from '../src/registry/validate-policy.js';
import { callerFields, context, purpose, requestId, requireBytes, requireId } from '../src/server/request-fields.js';
import { toStatus } from '../src/server/status-codes.js';
import { applyMutation, layoutOf, mutationArb } from './helpers/envelope-mutations.js';
import { fuzzRuns } from './helpers/fuzz.js';
import { makePolicyRecord } from './helpers/policy-fixture.js';

/**
 * Property tests of request validation: the field validators every Crypto call goes through
 * (src/server/request-fields.ts: ids, request id, purpose, context), key references (validateRef: ids and key
 * versions), the size limits and envelope parse of the core (CryptoService.checkBlockSize and parse), and the
 * policy record checked on every registry write (validatePolicyRecord). For arbitrary input each either
 * accepts, and what it returns is well-formed, or refuses with an error the gRPC edge (status-codes.ts) maps to
 * INVALID_ARGUMENT or RESOURCE_EXHAUSTED: never another status, never an exception of another kind (a
 * TypeError would surface as INTERNAL).
 */

const REFUSALS = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]);

/** undefined when `err` maps to INVALID_ARGUMENT or RESOURCE_EXHAUSTED, else what it became. */
function badRefusal(err: unknown): string | undefined {
  const status = toStatus(err, silentLogger, 'property-test');
  if (status.code !== undefined && REFUSALS.has(status.code)) return undefined;
  return `${grpc.status[status.code ?? grpc.status.UNKNOWN]}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}

/** Runs `fn`; a refusal must be a proper one (else throws, failing the property); returns the value or undefined. */
function accepted<T>(fn: () => T): { value: T } | undefined {
  try {
    return { value: fn() };
  } catch (err) {
    const bad = badRefusal(err);
    if (bad !== undefined) throw new Error(`refused with ${bad}`);
    return undefined;
  }
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

// Strings biased to the edges of the validators: id characters, lengths 63..65 and 127..129, control and
// non-ASCII characters, lone surrogates.
const idChars = fc.constantFrom(...'aZ09._-', ' ', '/', '\u0000', 'é', '\ud800');
const edgyString = fc.oneof(
  fc.string({ unit: idChars, maxLength: 6 }),
  fc
    .tuple(fc.constantFrom('a', '.', '!', '~', 'é', ' '), fc.integer({ min: 62, max: 130 }))
    .map(([c, n]) => `a${c.repeat(n)}`),
  fc.string({ unit: 'binary-ascii', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('', 'PURPOSE_USER', 'PURPOSE_SYSTEM', 'PURPOSE_UNSPECIFIED', 'purpose_user'),
);
const optionalString = fc.option(edgyString, { nil: undefined, freq: 6 });
const contextish = fc.option(fc.dictionary(edgyString, edgyString, { maxKeys: 3 }), { nil: undefined, freq: 4 });

test('request fields: ids, request id, purpose and context are accepted well-formed or refused as INVALID_ARGUMENT', (t) => {
  const signal = new AbortController().signal;
  let acceptedCalls = 0;
  fc.assert(
    fc.property(
      fc.record({
        tenant: optionalString,
        policyId: optionalString,
        purpose: optionalString,
        requestId: optionalString,
        context: contextish,
      }),
      (req) => {
        const id = accepted(() => requireId(req.policyId, 'policy_id'));
        check(
          (id !== undefined) === (req.policyId !== undefined && ID_PATTERN.test(req.policyId)),
          'requireId disagrees with the id rule',
        );
        const rid = accepted(() => requestId(req.requestId));
        if (rid)
          check(
            rid.value === '' ? !req.requestId : /^[\x21-\x7e]{1,128}$/.test(rid.value),
            'request_id accepted malformed',
          );
        const p = accepted(() => purpose(req.purpose));
        if (p) check(p.value === 'user' || p.value === 'system', 'purpose out of its set');
        const ctx = accepted(() => context(req.context));
        if (ctx) encodeContext(ctx.value); // an accepted context encodes (throws, failing the property, otherwise)
        const all = accepted(() => callerFields(req, signal));
        check(
          (all !== undefined) ===
            (req.tenant !== undefined &&
              ID_PATTERN.test(req.tenant) &&
              rid !== undefined &&
              p !== undefined &&
              ctx !== undefined),
          'callerFields disagrees with its parts',
        );
        if (all) {
          acceptedCalls++;
          check(
            all.value.tenant === req.tenant && all.value.signal === signal,
            'callerFields changed the tenant or signal',
          );
        }
      },
    ),
    { numRuns: fuzzRuns(2000) },
  );
  t.log(`${acceptedCalls} requests accepted whole`);
  t.true(fuzzRuns(2000) < 2000 || acceptedCalls > 0, 'the generator reaches accepted requests');
});

test('requireBytes: anything but bytes is refused as INVALID_ARGUMENT', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.constant(undefined),
        fc.constant(null),
        fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
      ),
      (v) => {
        const r = accepted(() => requireBytes(v as Buffer | undefined, 'envelope'));
        check((r !== undefined) === Buffer.isBuffer(v), 'requireBytes disagrees');
      },
    ),
    { numRuns: fuzzRuns(200) },
  );
  t.pass();
});

test('key references: an id pair and key version are accepted only when well-formed (integer 1..2^32-1)', (t) => {
  const version = fc.oneof(
    fc.integer({ min: -2, max: 3 }),
    fc.constantFrom(0xffff_ffff, 2 ** 32, 2 ** 53, 1.5, NaN, Infinity, -0),
    fc.double(),
    fc.anything(),
  );
  fc.assert(
    fc.property(
      fc.record({
        tenant: fc.oneof(edgyString, fc.anything()),
        policyId: fc.oneof(edgyString, fc.anything()),
        keyVersion: version,
      }),
      (ref) => {
        const ok = accepted(() => validateRef(ref as EnvelopeRef));
        const wellFormed =
          typeof ref.tenant === 'string' &&
          ID_PATTERN.test(ref.tenant) &&
          typeof ref.policyId === 'string' &&
          ID_PATTERN.test(ref.policyId) &&
          Number.isInteger(ref.keyVersion) &&
          (ref.keyVersion as number) >= 1 &&
          (ref.keyVersion as number) <= 0xffff_ffff;
        check((ok !== undefined) === wellFormed, `validateRef ${ok ? 'accepted' : 'refused'} ${JSON.stringify(ref)}`);
      },
    ),
    { numRuns: fuzzRuns(2000) },
  );
  t.pass();
});

// ---- sizes and the envelope parse of the core ------------------------------------------------------------

const MAX_BLOCK = 256;
const crypto = new CryptoService({
  registry: { onChange: () => undefined },
  gate: { onMark: () => undefined },
  cache: {},
  unwrapper: {},
  maxBlockBytes: MAX_BLOCK,
  maxEnvelopeBytes: MAX_BLOCK + MAX_ENVELOPE_OVERHEAD,
} as unknown as CryptoServiceOptions);

const IK = SecretKey.copyFrom(Buffer.alloc(32, 7));
const GENUINE = [
  { tenant: 'contoso', policyId: 'dep-a', keyVersion: 1 },
  { tenant: 'contoso', policyId: 'dep-b', keyVersion: 9 },
  { tenant: 'other', policyId: 'dep-a', keyVersion: 1 },
].map((ref, i) => {
  const kek = deriveWrappingKey(IK, ref);
  const plaintext = Buffer.alloc([0, 20, MAX_BLOCK][i] as number, i);
  const envelope = sealBlock({ ref, kek, plaintext, context: {} });
  kek.destroy();
  return envelope;
});
const LAYOUTS = GENUINE.map(layoutOf);

const envelopeBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.nat({ max: GENUINE.length - 1 }), fc.array(mutationArb(GENUINE.length), { maxLength: 3 }))
    .map(([i, ms]) => {
      let b = GENUINE[i] as Buffer;
      for (const m of ms) b = applyMutation(b, m, LAYOUTS[i]!, GENUINE, LAYOUTS);
      return b;
    }),
  fc
    .integer({ min: MAX_BLOCK + MAX_ENVELOPE_OVERHEAD - 2, max: MAX_BLOCK + MAX_ENVELOPE_OVERHEAD + 2 })
    .map((n) => Buffer.concat([GENUINE[2] as Buffer, Buffer.alloc(n)]).subarray(0, n)),
);

test('envelope sizes and parse: arbitrary bytes are parsed well-formed for the tenant, or refused as INVALID_ARGUMENT', (t) => {
  let parsedCount = 0;
  fc.assert(
    fc.property(fc.constantFrom('contoso', 'other'), envelopeBytes, (tenant, bytes) => {
      const r = accepted(() => crypto.parse(tenant, bytes));
      if (bytes.length > MAX_BLOCK + MAX_ENVELOPE_OVERHEAD)
        check(r === undefined, 'an envelope over the size limit was parsed');
      if (r) {
        parsedCount++;
        const p = r.value;
        check(
          p.tenant === tenant && ID_PATTERN.test(p.policyId) && Number.isInteger(p.keyVersion) && p.keyVersion >= 1,
          'parsed ids malformed',
        );
        check(
          p.fixedHeader.length + p.wrapSection.length + p.body.length === bytes.length &&
            p.tag.length === 16 &&
            p.nonce.length === 12,
          'parsed sections do not tile the envelope',
        );
      }
    }),
    { numRuns: fuzzRuns(2000) },
  );
  t.log(`${parsedCount} parsed`);
  t.true(fuzzRuns(2000) < 2000 || parsedCount > 0, 'the generator reaches parseable envelopes');
});

test('block size: a plaintext length is accepted up to the limit and refused above it as INVALID_ARGUMENT or RESOURCE_EXHAUSTED', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(fc.nat({ max: 2 * MAX_BLOCK }), fc.integer({ min: MAX_BLOCK - 1, max: MAX_BLOCK + 1 }), fc.nat()),
      (n) => {
        check((accepted(() => crypto.checkBlockSize(n)) !== undefined) === n <= MAX_BLOCK, `length ${n}`);
      },
    ),
    { numRuns: fuzzRuns(500) },
  );
  t.pass();
});

// ---- policy records (every registry write) ---------------------------------------------------------------

const FIELDS = [
  'tenant',
  'id',
  'name',
  'mode',
  'geo',
  'state',
  'stateReason',
  'keys',
  'activeVersion',
  'minDecryptVersion',
  'versions',
  'revision',
  'createdAt',
  'updatedAt',
  'rollProgress',
  'purgedAt',
] as const;

/** A valid record with one to three fields (top-level, or inside keys, versions or copies) set to something else or removed. */
const policyRecordArb = fc
  .array(
    fc.record({
      where: fc.constantFrom('top', 'keys', 'version', 'copy'),
      field: fc.oneof(
        fc.constantFrom(...FIELDS),
        fc.constantFrom(
          'customer-a',
          'availability',
          'version',
          'copies',
          'role',
          'keyUri',
          'algorithm',
          'ciphertext',
          '__proto__',
        ),
      ),
      value: fc.oneof(
        fc.constant(undefined),
        edgyString,
        fc.integer({ min: -1, max: 3 }),
        fc.anything({ maxDepth: 2 }),
      ),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((edits) => {
    const r = structuredClone(makePolicyRecord()) as unknown as Record<string, unknown>;
    for (const e of edits) {
      const target = (
        e.where === 'top'
          ? r
          : e.where === 'keys'
            ? r['keys']
            : e.where === 'version'
              ? (r['versions'] as unknown[])?.[0]
              : (r['versions'] as Array<{ copies?: unknown[] }>)?.[0]?.copies?.[0]
      ) as Record<string, unknown> | undefined;
      if (target === null || typeof target !== 'object') continue;
      if (e.value === undefined) delete target[e.field];
      else
        Object.defineProperty(target, e.field, {
          value: e.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
    return r;
  });

test('policy records: arbitrary edits of a valid record are accepted well-formed (and stable) or refused as INVALID_ARGUMENT', (t) => {
  t.notThrows(() => validatePolicyRecord(makePolicyRecord()));
  let acceptedRecords = 0;
  fc.assert(
    fc.property(
      fc.oneof({ weight: 9, arbitrary: policyRecordArb }, { weight: 1, arbitrary: fc.anything() }),
      (value) => {
        const r = accepted(() => validatePolicyRecord(value));
        if (r) {
          acceptedRecords++;
          const record: PolicyRecord = r.value;
          check(ID_PATTERN.test(record.tenant) && ID_PATTERN.test(record.id), 'accepted record with malformed ids');
          check(
            JSON.stringify(validatePolicyRecord(record)) === JSON.stringify(record),
            'validation is not idempotent',
          );
        }
      },
    ),
    { numRuns: fuzzRuns(2000) },
  );
  t.log(`${acceptedRecords} records accepted`);
  t.true(fuzzRuns(2000) < 2000 || acceptedRecords > 0, 'the generator reaches accepted records');
});

test('contexts from the wire: whatever validateContext accepts, encodeContext encodes', (t) => {
  fc.assert(
    fc.property(fc.dictionary(edgyString, edgyString, { maxKeys: 5 }), (ctx: EncryptionContext) => {
      const ok = accepted(() => validateContext(ctx));
      const enc = accepted(() => encodeContext(ctx));
      check((ok === undefined) === (enc === undefined), 'validateContext and encodeContext disagree');
    }),
    { numRuns: fuzzRuns(1000) },
  );
  t.pass();
});
