import { randomBytes } from 'node:crypto';
import type { UnwrapdClient } from '../../src/client/client.js';
import { median } from './stats.js';

/**
 * Cold start under load: the policy's key is evicted (Admin.Evict), then `calls` Encrypts of 4 KiB arrive
 * at once. Single flight means one provider round trip for the whole burst (GetStatus counts the unwraps),
 * so the burst costs about one provider latency more than the same burst warm. Also the cost of one cache
 * miss: a single call after an eviction, beside a single warm call.
 */

export interface ColdRound {
  round: number;
  coldBurstMs: number;
  warmBurstMs: number;
  coldP50Ms: number;
  coldMaxMs: number;
  warmP50Ms: number;
  unwrapsPerColdBurst: number;
  cacheMissesPerColdBurst: number;
  singleColdMs: number;
  singleWarmMs: number;
}

export interface ColdResult {
  calls: number;
  providerLatencyMs: number | undefined;
  rounds: ColdRound[];
  median: Omit<ColdRound, 'round'>;
}

async function burst(
  client: UnwrapdClient,
  req: { tenant: string; policyId: string; plaintext: Buffer },
  calls: number,
  deadlineMs: number,
): Promise<{ wallMs: number; latencies: number[] }> {
  const t0 = performance.now();
  const latencies = await Promise.all(
    Array.from({ length: calls }, async () => {
      const s = performance.now();
      await client.encrypt(req, { deadlineMs });
      return performance.now() - s;
    }),
  );
  return { wallMs: performance.now() - t0, latencies: latencies.sort((a, b) => a - b) };
}

async function counters(client: UnwrapdClient): Promise<{ unwraps: number; misses: number }> {
  const s = await client.getStatus({ deadlineMs: 5_000 });
  return { unwraps: Number(s.providerUnwraps), misses: Number(s.cacheMisses) };
}

export async function runColdStart(
  client: UnwrapdClient,
  t: { tenant: string; policy: string; deadlineMs: number; providerLatencyMs: number | undefined },
  calls: number,
  rounds: number,
): Promise<ColdResult> {
  const req = { tenant: t.tenant, policyId: t.policy, plaintext: randomBytes(4096) };
  const evict = () => client.evict({ tenant: t.tenant, id: t.policy }, { deadlineMs: 5_000 });
  await client.encrypt(req, { deadlineMs: t.deadlineMs }); // connection and JIT warm, key cached
  const out: ColdRound[] = [];
  for (let round = 0; round < rounds; round++) {
    await evict();
    const c0 = await counters(client);
    const cold = await burst(client, req, calls, t.deadlineMs);
    const c1 = await counters(client);
    const warm = await burst(client, req, calls, t.deadlineMs);
    await evict();
    let s = performance.now();
    await client.encrypt(req, { deadlineMs: t.deadlineMs });
    const singleColdMs = performance.now() - s;
    s = performance.now();
    await client.encrypt(req, { deadlineMs: t.deadlineMs });
    const singleWarmMs = performance.now() - s;
    out.push({
      round,
      coldBurstMs: cold.wallMs,
      warmBurstMs: warm.wallMs,
      coldP50Ms: median(cold.latencies),
      coldMaxMs: cold.latencies[cold.latencies.length - 1] ?? Number.NaN,
      warmP50Ms: median(warm.latencies),
      unwrapsPerColdBurst: c1.unwraps - c0.unwraps,
      cacheMissesPerColdBurst: c1.misses - c0.misses,
      singleColdMs,
      singleWarmMs,
    });
  }
  const med = (f: (r: ColdRound) => number) => median(out.map(f));
  return {
    calls,
    providerLatencyMs: t.providerLatencyMs,
    rounds: out,
    median: {
      coldBurstMs: med((r) => r.coldBurstMs),
      warmBurstMs: med((r) => r.warmBurstMs),
      coldP50Ms: med((r) => r.coldP50Ms),
      coldMaxMs: med((r) => r.coldMaxMs),
      warmP50Ms: med((r) => r.warmP50Ms),
      unwrapsPerColdBurst: med((r) => r.unwrapsPerColdBurst),
      cacheMissesPerColdBurst: med((r) => r.cacheMissesPerColdBurst),
      singleColdMs: med((r) => r.singleColdMs),
      singleWarmMs: med((r) => r.singleWarmMs),
    },
  };
}
