/**
 * Lifecycle benchmark:
 *  1. revocation latency on a busy instance: time from the Revoke call to the first refused request,
 *     p50/p99 over --revocations (default 100) revocations, while --concurrency clients decrypt in a loop;
 *     and the count of decrypts that began after the Revoke was acknowledged and still succeeded (must be 0),
 *     beside those that were in flight across the acknowledgement and succeeded (allowed: they were checked
 *     before the revocation started);
 *  2. cold start under load against a provider with --provider-latency-ms (default 50) added: requests
 *     served per provider call, and p99.
 * The daemon runs in this process (a real Unix socket, the real local provider wrapped to add latency), so
 * the numbers include the load generator's CPU. Run: `npm run bench:lifecycle [-- --revocations 200]`.
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { summarizeNs } from './lib/stats.js';
import { createPolicy, startTestDaemon } from '../test/helpers/test-daemon.js';

const { values } = parseArgs({
  options: {
    revocations: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '16' },
    'provider-latency-ms': { type: 'string', default: '50' },
    'cold-requests': { type: 'string', default: '2000' },
    'cold-concurrency': { type: 'string', default: '64' },
    'skip-cold': { type: 'boolean', default: false },
  },
});
const REVOCATIONS = Number(values.revocations);
const CONCURRENCY = Number(values.concurrency);
const LATENCY = Number(values['provider-latency-ms']);

const d = await startTestDaemon({ hedgeDelayMs: 1_000, cacheMaxEntries: 100_000, maxPoliciesPerTenant: 100_000 });
try {
  // 1. Revocation latency.
  const samples: number[] = [];
  let succeededAfterAck = 0;
  let inFlightAcrossAck = 0;
  let decrypts = 0;
  for (let i = 0; i < REVOCATIONS; i++) {
    const id = `bench-rv-${i}`;
    await createPolicy(d.client, id);
    const envelope = (await d.client.encrypt({ tenant: 'demo', policyId: id, plaintext: Buffer.alloc(4096) })).envelope;
    let revokeAt = 0n;
    let refusedAt = 0n;
    let ackAt = 0n;
    // Each client decrypts until it is refused on a request it began after the acknowledgement.
    const loops = Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const afterAck = ackAt !== 0n;
        const ackKnownBefore = ackAt;
        try {
          decrypts++;
          await d.client.decrypt({ tenant: 'demo', envelope });
          if (afterAck) succeededAfterAck++;
          else if (ackAt !== 0n && ackKnownBefore === 0n) inFlightAcrossAck++;
        } catch (err) {
          if ((err as grpc.ServiceError).code !== grpc.status.FAILED_PRECONDITION) throw err;
          if (refusedAt === 0n) refusedAt = process.hrtime.bigint();
          if (afterAck) return;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 20));
    revokeAt = process.hrtime.bigint();
    await d.client.revoke({ tenant: 'demo', id });
    ackAt = process.hrtime.bigint();
    await Promise.all(loops);
    samples.push(Number(refusedAt - revokeAt));
  }
  const rv = summarizeNs(Float64Array.from(samples));
  console.log(
    `revocation latency (Revoke call -> first refused request), ${REVOCATIONS} revocations, ${CONCURRENCY} clients decrypting 4 KiB:`,
  );
  console.log(
    `  p50 ${(rv.p50Us / 1000).toFixed(2)} ms   p99 ${(rv.p99Us / 1000).toFixed(2)} ms   max ${(rv.maxUs / 1000).toFixed(2)} ms`,
  );
  console.log(
    `  decrypts begun after the acknowledgement that succeeded: ${succeededAfterAck} (must be 0); in flight across it and succeeded: ${inFlightAcrossAck}; decrypts in all: ${decrypts}`,
  );
  if (succeededAfterAck > 0) process.exitCode = 1;

  // 2. Cold start under load (--skip-cold: not run).
  if (!values['skip-cold']) {
    await createPolicy(d.client, 'bench-cold');
    await d.client.evict({ tenant: 'demo', id: 'bench-cold' });
    d.provider.resetCounts();
    d.provider.latencyMs = LATENCY;
    const total = Number(values['cold-requests']);
    const conc = Number(values['cold-concurrency']);
    const latencies = new Float64Array(total);
    let issued = 0;
    let done = 0;
    const worker = async () => {
      while (issued < total) {
        const i = issued++;
        const t0 = process.hrtime.bigint();
        await d.client.encrypt({ tenant: 'demo', policyId: 'bench-cold', plaintext: Buffer.alloc(4096) });
        latencies[i] = Number(process.hrtime.bigint() - t0);
        done++;
      }
    };
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: conc }, worker));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const cold = summarizeNs(latencies);
    const calls = d.provider.counts.unwrap;
    console.log(
      `cold start under load: ${done} Encrypt calls at concurrency ${conc}, provider latency +${LATENCY} ms, cache cold at the start:`,
    );
    console.log(`  provider unwraps ${calls} -> ${(done / calls).toFixed(0)} requests served per provider call`);
    console.log(
      `  p50 ${(cold.p50Us / 1000).toFixed(2)} ms   p99 ${(cold.p99Us / 1000).toFixed(2)} ms   max ${(cold.maxUs / 1000).toFixed(2)} ms   (${elapsedMs.toFixed(0)} ms in all)`,
    );
  }
} finally {
  await d.stop();
}
