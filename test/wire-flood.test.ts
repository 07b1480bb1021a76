import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { UnwrapdClient } from '../src/client/client.js';
import { lenField, rawClient, rawUnary } from './helpers/proto-wire.js';
import { startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';

// A DecryptBatch of 2.3 million empty items (4.6 MB) used to be decoded into objects before its item count
// was checked: 8.6 s of event loop and +1 GiB. Now the wire scan refuses it at item 1025. The daemon runs in
// its own process (default limits: batchMaxItems 1024), so its RSS is its own.
let p: DaemonProcess;
let client: UnwrapdClient;
let raw: grpc.Client;
let envelope: Buffer;
test.before(async () => {
  p = await startDaemonProcess();
  client = new UnwrapdClient(p.address);
  raw = rawClient(p.address);
  envelope = (await client.encrypt({ tenant: 'demo', policyId: 'demo-mailbox', plaintext: Buffer.from('hello') }))
    .envelope;
});
test.after.always(async () => {
  client?.close();
  raw?.close();
  await p?.stop();
});

const MiB = 1024 * 1024;
// Under DecryptBatch's byte limit at the defaults (3,982,336), so that only the item count refuses it.
const ITEMS = 1_900_000;
const TENANT = lenField(1, 'demo');
/** DecryptBatchRequest{tenant, items: 1.9 M empty DecryptBatchItem}, built as bytes (no JS object per item). */
const flood = () => Buffer.concat([TENANT, Buffer.alloc(ITEMS * 2).fill(Buffer.from([0x12, 0x00]))]);
const FLOOD_REFUSAL = 'DecryptBatch: 1025 or more items exceed batchMaxItems (1024)';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) * 1024;
}

async function decryptMs(): Promise<number> {
  const t0 = performance.now();
  await client.decrypt({ tenant: 'demo', envelope });
  return performance.now() - t0;
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? 0;

test.serial(
  '1.9 million empty items cost what receiving their bytes costs: refused as fast as a same-size request that needs no counting',
  async (t) => {
    const bytes = flood();
    t.is(bytes.length, 3_800_006);
    // The control: as many bytes in one item's envelope, refused by the batch payload limit once received.
    const control = Buffer.concat([TENANT, lenField(2, lenField(1, Buffer.alloc(bytes.length - 16)))]);
    const time = async (b: Buffer) => {
      const t0 = performance.now();
      const out = await rawUnary(raw, '/unwrapd.v1.Crypto/DecryptBatch', b);
      return { ms: performance.now() - t0, out };
    };
    await time(control); // warm-up
    const floods: number[] = [];
    const controls: number[] = [];
    for (let i = 0; i < 5; i++) {
      const f = await time(bytes);
      t.deepEqual(f.out, { code: grpc.status.RESOURCE_EXHAUSTED, details: FLOOD_REFUSAL });
      floods.push(f.ms);
      const c = await time(control);
      t.is(c.out.code, grpc.status.RESOURCE_EXHAUSTED);
      t.regex(c.out.details, /^DecryptBatch: \d+ envelope bytes exceed \d+ \(batchMaxBytes \d+ \+ 241 per item\)$/);
      controls.push(c.ms);
    }
    // The fastest of each (the least disturbed by a busy machine). Decoding the items first took ~100x the control.
    const [f, c] = [Math.min(...floods), Math.min(...controls)];
    t.log(
      `refusal of the 1.9 M-item DecryptBatch: fastest ${f.toFixed(1)} ms, median ${quantile(floods, 0.5).toFixed(1)} ms; same-size control: fastest ${c.toFixed(1)} ms, median ${quantile(controls, 0.5).toFixed(1)} ms`,
    );
    t.true(f <= c * 4, `flood ${f} ms vs control ${c} ms`);
  },
);

test.serial(
  'four floods at once: RSS grows far less than 64 MiB and a concurrent Decrypt keeps its latency',
  async (t) => {
    const bytes = flood();
    for (let i = 0; i < 30; i++) await decryptMs(); // warm-up
    const baseline: number[] = [];
    for (let i = 0; i < 100; i++) baseline.push(await decryptMs());
    const rssBefore = rssBytes(p.pid);
    let peak = rssBefore;
    let running = true;
    const during: number[] = [];
    const prober = (async () => {
      while (running) {
        during.push(await decryptMs());
        peak = Math.max(peak, rssBytes(p.pid));
      }
    })();
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => rawUnary(raw, '/unwrapd.v1.Crypto/DecryptBatch', bytes)),
    );
    running = false;
    await prober;
    peak = Math.max(peak, rssBytes(p.pid));
    for (const o of outcomes) t.deepEqual(o, { code: grpc.status.RESOURCE_EXHAUSTED, details: FLOOD_REFUSAL });
    const base50 = quantile(baseline, 0.5);
    const worst = Math.max(...during);
    t.log(
      `Decrypt: baseline p50 ${base50.toFixed(2)} ms, p99 ${quantile(baseline, 0.99).toFixed(2)} ms; during 4 floods (${during.length} calls): p50 ${quantile(during, 0.5).toFixed(2)} ms, worst ${worst.toFixed(2)} ms`,
    );
    t.log(
      `daemon RSS: ${(rssBefore / MiB).toFixed(1)} MiB before, peak ${(peak / MiB).toFixed(1)} MiB (+${((peak - rssBefore) / MiB).toFixed(1)} MiB)`,
    );
    t.true(during.length > 0);
    t.true(peak - rssBefore < 64 * MiB, `RSS grew ${(peak - rssBefore) / MiB} MiB`);
    // Before the scan, a Decrypt sent during one flood waited ~6 s (>1000x its baseline).
    t.true(worst <= base50 * 100, `worst concurrent Decrypt ${worst} ms vs baseline p50 ${base50} ms`);
    // And the daemon keeps serving.
    t.true((await client.decrypt({ tenant: 'demo', envelope })).plaintext.equals(Buffer.from('hello')));
  },
);
