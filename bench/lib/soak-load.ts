import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { UnwrapdClient } from '../../src/client/client.js';
import { LatencyRecorder } from './latency-recorder.js';

/**
 * The soak's load (bench/soak.ts): `concurrency` workers, each issuing its next call as soon as the previous
 * one returned, the kind drawn by weight (unary Encrypt/Decrypt, batches, streams, and Decrypt of envelopes
 * whose policy was revoked or purged); beside them one lifecycle loop that, every `churnIntervalMs`, creates
 * a throwaway policy, writes under it, rolls its customer key, rotates its intermediate key, evicts the main
 * policy from the cache (the next calls unwrap it again), revokes the throwaway policy and force-purges the
 * one before it. The throwaway policies' envelopes feed the `decrypt-revoked` calls, whose FAILED_PRECONDITION
 * is the expected answer (a success there would be a revocation that did not hold: unexpected).
 */

export const LOAD_KINDS = [
  'encrypt',
  'decrypt',
  'encrypt-batch',
  'decrypt-batch',
  'encrypt-stream',
  'decrypt-stream',
  'decrypt-revoked',
] as const;
export const CHURN_KINDS = ['create-policy', 'roll-key', 'rotate', 'evict', 'revoke', 'purge'] as const;
export type LoadKind = (typeof LOAD_KINDS)[number];
export type OpKind = LoadKind | (typeof CHURN_KINDS)[number];

/** Relative frequency of each load kind (a worker draws its next call with these weights). */
export const DEFAULT_WEIGHTS: Record<LoadKind, number> = {
  encrypt: 30,
  decrypt: 30,
  'encrypt-batch': 8,
  'decrypt-batch': 8,
  'encrypt-stream': 3,
  'decrypt-stream': 3,
  'decrypt-revoked': 4,
};

export interface SoakLoadOptions {
  concurrency: number;
  durationMs: number;
  payloadBytes: number;
  batchItems: number;
  streamBytes: number;
  chunkBytes: number;
  churnIntervalMs: number;
  /** Streams in flight at most (a worker that draws a stream beyond it makes a unary Decrypt instead). */
  maxStreams: number;
  deadlineMs: number;
  /** Deadline of the lifecycle calls: CreatePolicy generates an RSA key, seconds on a loaded machine. */
  adminDeadlineMs: number;
  weights: Record<LoadKind, number>;
}

export interface KindStats {
  ok: number;
  latency: LatencyRecorder;
  /** Errors the soak provokes on purpose, by status name (FAILED_PRECONDITION of a revoked policy). */
  expected: Map<string, number>;
  /** Everything else, by status name; the first message of each is kept to report. */
  unexpected: Map<string, number>;
  firstUnexpected: Map<string, string>;
}

/** Per kind of operation: successes with their latency, expected and unexpected errors. */
export class SoakStats {
  readonly kinds = new Map<OpKind, KindStats>();

  #of(kind: OpKind): KindStats {
    let s = this.kinds.get(kind);
    if (!s)
      this.kinds.set(
        kind,
        (s = {
          ok: 0,
          latency: new LatencyRecorder(1 << 14),
          expected: new Map(),
          unexpected: new Map(),
          firstUnexpected: new Map(),
        }),
      );
    return s;
  }

  ok(kind: OpKind, startNs: bigint): void {
    const s = this.#of(kind);
    s.ok++;
    s.latency.record(Number(process.hrtime.bigint() - startNs));
  }

  error(kind: OpKind, err: unknown, expected: boolean): void {
    const s = this.#of(kind);
    const name = statusName(err);
    const map = expected ? s.expected : s.unexpected;
    map.set(name, (map.get(name) ?? 0) + 1);
    if (!expected && !s.firstUnexpected.has(name))
      s.firstUnexpected.set(
        name,
        String((err as { details?: string; message?: string }).details ?? (err as Error).message ?? err).slice(0, 200),
      );
  }

  unexpectedTotal(): number {
    let n = 0;
    for (const s of this.kinds.values()) for (const c of s.unexpected.values()) n += c;
    return n;
  }
}

/** The gRPC status name of an error (`FAILED_PRECONDITION`), or `CLIENT` for a check of the soak's own. */
export function statusName(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && grpc.status[code] !== undefined ? grpc.status[code] : 'CLIENT';
}

/** An error the soak raises itself (a wrong plaintext, a short batch). */
class CheckError extends Error {}

function* chunked(buf: Buffer, size: number): Generator<Buffer> {
  for (let off = 0; off < buf.length; off += size) yield buf.subarray(off, off + size);
}

async function drain(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b);
  return Buffer.concat(parts);
}

interface Fixtures {
  plaintext: Buffer;
  envelopes: Buffer[];
  batchEnvelopes: Buffer[];
  streamContent: Buffer;
  streamEnvelope: Buffer;
  /** Envelopes of revoked (later purged) throwaway policies, newest last, at most REVOKED_POOL. */
  revoked: Buffer[];
}

const ENVELOPES = 64;
const REVOKED_POOL = 64;

async function prepare(client: UnwrapdClient, tenant: string, policy: string, o: SoakLoadOptions): Promise<Fixtures> {
  const plaintext = randomBytes(o.payloadBytes);
  const envelopes: Buffer[] = [];
  for (let i = 0; i < ENVELOPES; i++)
    envelopes.push((await client.encrypt({ tenant, policyId: policy, plaintext })).envelope);
  const sealed = await client.encryptBatch({
    tenant,
    policyId: policy,
    items: Array.from({ length: o.batchItems }, () => ({ plaintext })),
  });
  const batchEnvelopes = sealed.results.map((r) => r.ok!.envelope);
  const streamContent = randomBytes(o.streamBytes);
  const streamEnvelope = await drain(
    client.encryptStream({ tenant, policyId: policy }, chunked(streamContent, o.chunkBytes), {
      chunkBytes: o.chunkBytes,
    }),
  );
  return { plaintext, envelopes, batchEnvelopes, streamContent, streamEnvelope, revoked: [] };
}

/** One call of each load kind; resolves when it succeeded and was checked, rejects otherwise. */
function loadCalls(
  client: UnwrapdClient,
  tenant: string,
  policy: string,
  f: Fixtures,
  o: SoakLoadOptions,
): Record<LoadKind, () => Promise<unknown>> {
  const call = { deadlineMs: o.deadlineMs };
  const stream = { chunkBytes: o.chunkBytes, deadlineMs: o.deadlineMs };
  let i = 0;
  const pick = <T>(list: T[]) => list[i++ % list.length]!;
  return {
    encrypt: () => client.encrypt({ tenant, policyId: policy, plaintext: f.plaintext }, call),
    decrypt: async () => {
      const res = await client.decrypt({ tenant, envelope: pick(f.envelopes) }, call);
      if (!res.plaintext.equals(f.plaintext)) throw new CheckError('Decrypt returned another plaintext');
    },
    'encrypt-batch': async () => {
      const res = await client.encryptBatch(
        { tenant, policyId: policy, items: f.batchEnvelopes.map(() => ({ plaintext: f.plaintext })) },
        call,
      );
      if (res.results.length !== f.batchEnvelopes.length || res.results.some((r) => !r.ok))
        throw new CheckError('EncryptBatch item failed');
    },
    'decrypt-batch': async () => {
      const res = await client.decryptBatch(
        { tenant, items: f.batchEnvelopes.map((envelope) => ({ envelope })) },
        call,
      );
      if (
        res.results.length !== f.batchEnvelopes.length ||
        !res.results.every((r) => r.ok?.plaintext.equals(f.plaintext))
      )
        throw new CheckError('DecryptBatch item failed');
    },
    'encrypt-stream': async () => {
      const out = await drain(
        client.encryptStream({ tenant, policyId: policy }, chunked(f.streamContent, o.chunkBytes), stream),
      );
      if (out.length <= f.streamContent.length) throw new CheckError('EncryptStream returned a short envelope');
    },
    'decrypt-stream': async () => {
      const out = await drain(client.decryptStream({ tenant }, chunked(f.streamEnvelope, o.chunkBytes), stream));
      if (!out.equals(f.streamContent)) throw new CheckError('DecryptStream returned other content');
    },
    'decrypt-revoked': async () => {
      await client.decrypt({ tenant, envelope: pick(f.revoked) }, call);
      throw new CheckError('Decrypt of a revoked policy succeeded');
    },
  };
}

function drawKind(weights: Record<LoadKind, number>): () => LoadKind {
  const table: [LoadKind, number][] = [];
  let total = 0;
  for (const k of LOAD_KINDS) if (weights[k] > 0) table.push([k, (total += weights[k])]);
  return () => {
    const r = Math.random() * total;
    return table.find(([, upTo]) => r < upTo)![0];
  };
}

/** Runs one timed operation into `stats`; `expected` says which failures are the intended outcome. */
async function timed(
  stats: SoakStats,
  kind: OpKind,
  op: () => Promise<unknown>,
  expected: (err: unknown) => boolean = () => false,
): Promise<boolean> {
  const t0 = process.hrtime.bigint();
  try {
    await op();
    stats.ok(kind, t0);
    return true;
  } catch (err) {
    stats.error(kind, err, !(err instanceof CheckError) && expected(err));
    return false;
  }
}

const revokedRefusal = (err: unknown) => (err as { code?: number }).code === grpc.status.FAILED_PRECONDITION;

/** The lifecycle loop: one throwaway policy per cycle, until `stopAt` (ms since the epoch). */
async function churn(
  client: UnwrapdClient,
  tenant: string,
  policy: string,
  f: Fixtures,
  o: SoakLoadOptions,
  stats: SoakStats,
  stopAt: number,
  runId: string,
): Promise<void> {
  const admin = { deadlineMs: o.adminDeadlineMs };
  let previous: string | undefined;
  for (let cycle = 0; Date.now() < stopAt; cycle++) {
    const started = Date.now();
    const id = `soak-${runId}-${cycle}`;
    const created = await timed(stats, 'create-policy', () =>
      client.createPolicy(
        {
          tenant,
          id,
          name: id,
          mode: 'POLICY_MODE_MAILBOX',
          customerKeyA: 'local:demo-customer-a',
          customerKeyB: 'local:demo-customer-b',
          availabilityKey: '',
        },
        admin,
      ),
    );
    if (created) {
      const written: Buffer[] = [];
      await timed(stats, 'encrypt', async () =>
        written.push((await client.encrypt({ tenant, policyId: id, plaintext: f.plaintext }, admin)).envelope),
      );
      await timed(stats, 'roll-key', () => client.rollKey({ tenant, id, role: 'customer-a', newKeyUri: '' }, admin));
      await timed(stats, 'rotate', () => client.rotateIntermediateKey({ tenant, id }, admin));
      await timed(stats, 'encrypt', async () =>
        written.push((await client.encrypt({ tenant, policyId: id, plaintext: f.plaintext }, admin)).envelope),
      );
      await timed(stats, 'evict', () => client.evict({ tenant, id: policy }, admin));
      if (await timed(stats, 'revoke', () => client.revoke({ tenant, id, reason: 'soak' }, admin))) {
        f.revoked.push(...written);
        if (f.revoked.length > REVOKED_POOL) f.revoked.splice(0, f.revoked.length - REVOKED_POOL);
      }
    }
    // The previous cycle's policy has been read while revoked for a whole cycle: now it goes for good.
    if (previous) {
      const target = previous;
      await timed(stats, 'purge', () => client.purge({ tenant, id: target, force: true, reason: 'soak' }, admin));
    }
    previous = created ? id : undefined;
    const rest = o.churnIntervalMs - (Date.now() - started);
    if (rest > 0) await new Promise((r) => setTimeout(r, Math.min(rest, Math.max(0, stopAt - Date.now()))));
  }
  if (previous) {
    const target = previous;
    await timed(stats, 'purge', () => client.purge({ tenant, id: target, force: true, reason: 'soak' }, admin));
  }
}

/**
 * Prepares the fixtures and one revoked policy's envelope, then runs the load and the churn
 * side by side for `durationMs`. Resolves when every worker has finished its last call.
 */
export async function runSoakLoad(
  client: UnwrapdClient,
  tenant: string,
  policy: string,
  o: SoakLoadOptions,
  stats: SoakStats,
): Promise<{ elapsedMs: number }> {
  const f = await prepare(client, tenant, policy, o);
  const runId = Date.now().toString(36);
  // A revoked policy's envelope from the start, so the decrypt-revoked calls have one before the first cycle.
  const seed = `soak-${runId}-seed`;
  await client.createPolicy({
    tenant,
    id: seed,
    name: seed,
    mode: 'POLICY_MODE_MAILBOX',
    customerKeyA: 'local:demo-customer-a',
    customerKeyB: 'local:demo-customer-b',
    availabilityKey: '',
  });
  f.revoked.push((await client.encrypt({ tenant, policyId: seed, plaintext: f.plaintext })).envelope);
  await client.revoke({ tenant, id: seed, reason: 'soak' });

  const calls = loadCalls(client, tenant, policy, f, o);
  const draw = drawKind(o.weights);
  const started = Date.now();
  const stopAt = started + o.durationMs;
  let streams = 0;
  const worker = async () => {
    while (Date.now() < stopAt) {
      let kind = draw();
      const stream = kind === 'encrypt-stream' || kind === 'decrypt-stream';
      if (stream && streams >= o.maxStreams) kind = 'decrypt';
      else if (stream) streams++;
      await timed(stats, kind, calls[kind], kind === 'decrypt-revoked' ? revokedRefusal : undefined);
      if (stream && kind !== 'decrypt') streams--;
    }
  };
  await Promise.all([
    ...Array.from({ length: o.concurrency }, worker),
    churn(client, tenant, policy, f, o, stats, stopAt, runId),
  ]);
  await client.purge({ tenant, id: seed, force: true, reason: 'soak' }).catch(() => {});
  return { elapsedMs: Date.now() - started };
}
