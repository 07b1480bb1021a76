import { parentPort, workerData } from 'node:worker_threads';
import { Probe, probeClient, wallNow } from './hostile-probe.js';

/**
 * The probe of bench/hostile.ts in a worker thread of its own: its calls and their timing run on an event loop
 * the attacker (main thread) does not share, so the attacker's own work (building and sending 100 MiB of
 * headers, 5,000 streams) is not measured as the daemon's latency. Messages: 'warm' (reply when the probe has
 * made `minCalls` calls over at least `minMs`), 'stop' (reply with every sample).
 */
const { address, request, concurrency } = workerData as {
  address: string;
  request: { tenant: string; envelope: Uint8Array };
  concurrency: number;
};
const client = probeClient(address);
const probe = new Probe(client, { tenant: request.tenant, envelope: Buffer.from(request.envelope) }, concurrency);
probe.start();
const startedAt = wallNow();

parentPort!.on('message', (msg: { type: 'warm'; minCalls: number; minMs: number } | { type: 'stop' }) => {
  if (msg.type === 'warm') {
    const check = () => {
      if (probe.samples.length >= msg.minCalls && wallNow() - startedAt >= msg.minMs)
        parentPort!.postMessage({ type: 'warm' });
      else setTimeout(check, 50);
    };
    check();
  } else {
    void probe.stop().then(() => {
      client.close();
      parentPort!.postMessage({ type: 'samples', samples: probe.samples });
    });
  }
});
