import type { UnwrapdClient } from '../../src/client/client.js';
import { servesCryptoFloor, type EchoClient, type EchoMessage } from './echo-service.js';
import { CPU_COUNT, machineBusyUs } from './machine-cpu.js';
import { median, minMax } from './stats.js';

/**
 * The stream section: one file of `bytes` through EncryptStream, one envelope of it through DecryptStream,
 * and the same bytes through a bare grpc-js streaming Echo, in the same chunking (`chunkBytes` per message
 * sent), round after round in alternating order. Each run is timed from the call's start to its last
 * response; MiB/s counts content bytes (plaintext), the echo's the bytes it moved one way.
 */

export type StreamScenario =
  'echo stream' | 'encrypt stream' | 'decrypt stream' | 'seal-echo stream' | 'open-echo stream';

/** Each stream scenario's crypto floor (bench/echo.proto SealEchoStream / OpenEchoStream). */
export const STREAM_FLOOR_OF: Partial<Record<StreamScenario, StreamScenario>> = {
  'encrypt stream': 'seal-echo stream',
  'decrypt stream': 'open-echo stream',
};

export interface StreamTargets {
  crypto: UnwrapdClient | undefined;
  echo: EchoClient | undefined;
  tenant: string;
  policy: string;
}

export interface StreamRun {
  scenario: StreamScenario;
  round: number;
  position: number;
  bytes: number;
  elapsedMs: number;
  mibPerSec: number;
  serverCpuMsPerGiB: number | undefined;
  clientCpuMsPerGiB: number;
  otherCpuPct: number | undefined;
}

export interface StreamCell {
  scenario: StreamScenario;
  rounds: StreamRun[];
  median: {
    mibPerSec: number;
    serverCpuMsPerGiB: number | undefined;
    clientCpuMsPerGiB: number;
    otherCpuPct: number | undefined;
  };
  /** Per-round ratio of MiB/s to the echo's in the same round; absent for the echo or without one. */
  ratio?: { perRound: number[]; median: number; min: number; max: number };
}

export interface StreamOptions {
  bytes: number;
  chunkBytes: number;
  rounds: number;
  serverCpuUs?: () => Promise<number>;
  onRun?: (run: StreamRun) => void;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** `bytes` of content as `chunkBytes` messages (one buffer, sent again and again: content does not change the cost). */
function* chunks(bytes: number, chunkBytes: number): Generator<Buffer> {
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  for (let sent = 0; sent < bytes; sent += chunkBytes)
    yield bytes - sent >= chunkBytes ? chunk : chunk.subarray(0, bytes - sent);
}

async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const b of stream) n += b.length;
  return n;
}

/** Sends `source` through a duplex echo stream with backpressure; returns the payload bytes received back. */
async function echoStream(
  call: ReturnType<EchoClient['EchoStream']>,
  source: Iterable<Buffer>,
  onMessage?: (payload: Buffer) => void,
): Promise<number> {
  const writer = (async () => {
    for (const payload of source) {
      if (!call.write({ payload })) {
        await new Promise<void>((resolve, reject) => {
          const done = (err?: Error) => {
            call.off('drain', onDrain);
            call.off('error', done);
            if (err) reject(err);
            else resolve();
          };
          const onDrain = () => done();
          call.on('drain', onDrain);
          call.on('error', done);
        });
      }
    }
    call.end();
  })();
  let received = 0;
  for await (const m of call as AsyncIterable<EchoMessage>) {
    received += m.payload?.length ?? 0;
    if (m.payload) onMessage?.(m.payload);
  }
  await writer;
  return received;
}

/** `envelope` as `chunkBytes` messages (views). */
function chunked(envelope: Buffer, chunkBytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < envelope.length; off += chunkBytes) out.push(envelope.subarray(off, off + chunkBytes));
  return out;
}

/**
 * A runner that opens `size` bytes of a sealed stream of `bytes` (its `envelope` in messages) with `open`. The
 * warm-up opens a prefix, which is (correctly) rejected at its end: that counts as warm-up all the same.
 */
function opening(
  bytes: number,
  chunkBytes: number,
  envelope: Buffer[],
  open: (source: Buffer[]) => Promise<number>,
): (size: number) => Promise<number> {
  return async (size) => {
    const source = size === bytes ? envelope : envelope.slice(0, Math.ceil(size / chunkBytes));
    try {
      return await open(source);
    } catch (err) {
      if (size === bytes) throw err;
      return size;
    }
  };
}

/** Runs the stream section; the envelope decrypted is made once, before the rounds, and held in memory. */
export async function runStreamRounds(t: StreamTargets, opts: StreamOptions): Promise<StreamCell[]> {
  const { bytes, chunkBytes } = opts;
  const header = { tenant: t.tenant, policyId: t.policy };
  let envelopeChunks: Buffer[] = [];
  if (t.crypto) {
    const parts: Buffer[] = [];
    for await (const b of t.crypto.encryptStream(header, chunks(bytes, chunkBytes), { chunkBytes })) parts.push(b);
    envelopeChunks = chunked(Buffer.concat(parts), chunkBytes);
  }
  const runners: [StreamScenario, (size: number) => Promise<number>][] = [];
  if (t.echo) {
    const echo = t.echo;
    runners.push(['echo stream', async (size) => echoStream(echo.EchoStream(), chunks(size, chunkBytes))]);
  }
  if (t.echo && t.crypto && (await servesCryptoFloor(t.echo))) {
    // The crypto floor of each stream: the echo plus the segmented envelope's crypto, nothing else.
    const echo = t.echo;
    const parts: Buffer[] = [];
    await echoStream(echo.SealEchoStream(), chunks(bytes, chunkBytes), (p) => parts.push(Buffer.from(p)));
    const floorChunks = chunked(Buffer.concat(parts), chunkBytes);
    const opened = await echoStream(echo.OpenEchoStream(), floorChunks);
    if (opened !== bytes)
      throw new Error(`OpenEchoStream returned ${opened} of the ${bytes} bytes SealEchoStream sealed`);
    runners.push([
      'seal-echo stream',
      async (size) => {
        await echoStream(echo.SealEchoStream(), chunks(size, chunkBytes));
        return size;
      },
    ]);
    runners.push([
      'open-echo stream',
      opening(bytes, chunkBytes, floorChunks, (source) => echoStream(echo.OpenEchoStream(), source)),
    ]);
  }
  if (t.crypto) {
    const crypto = t.crypto;
    runners.push([
      'encrypt stream',
      async (size) => {
        await drain(crypto.encryptStream(header, chunks(size, chunkBytes), { chunkBytes }));
        return size;
      },
    ]);
    runners.push([
      'decrypt stream',
      opening(bytes, chunkBytes, envelopeChunks, (source) =>
        drain(crypto.decryptStream({ tenant: t.tenant }, source, { chunkBytes })),
      ),
    ]);
  }

  // Warm-up: a short stream of each (JIT, connections, key cache), discarded.
  for (const [, run] of runners) await run(Math.min(bytes, 32 * MiB));

  const runs: StreamRun[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? runners : [...runners].reverse();
    for (let position = 0; position < order.length; position++) {
      const [scenario, run] = order[position]!;
      const server0 = await opts.serverCpuUs?.();
      const client0 = process.cpuUsage();
      const machine0 = machineBusyUs();
      const t0 = process.hrtime.bigint();
      const moved = await run(bytes);
      const elapsedNs = Number(process.hrtime.bigint() - t0);
      const machine1 = machineBusyUs();
      const client = process.cpuUsage(client0);
      const server1 = await opts.serverCpuUs?.();
      if (scenario !== 'encrypt stream' && scenario !== 'seal-echo stream' && moved !== bytes)
        throw new Error(`${scenario} moved ${moved} of ${bytes} bytes`);
      const clientUs = client.user + client.system;
      const serverUs = server0 !== undefined && server1 !== undefined ? server1 - server0 : undefined;
      const otherUs =
        machine0 !== undefined && machine1 !== undefined ? machine1 - machine0 - clientUs - (serverUs ?? 0) : undefined;
      const r: StreamRun = {
        scenario,
        round,
        position,
        bytes,
        elapsedMs: elapsedNs / 1e6,
        mibPerSec: bytes / MiB / (elapsedNs / 1e9),
        serverCpuMsPerGiB: serverUs === undefined ? undefined : serverUs / 1000 / (bytes / GiB),
        clientCpuMsPerGiB: clientUs / 1000 / (bytes / GiB),
        otherCpuPct: otherUs === undefined ? undefined : Math.max(0, (100 * otherUs) / (elapsedNs / 1e3) / CPU_COUNT),
      };
      runs.push(r);
      opts.onRun?.(r);
    }
  }

  const echoRuns = runs.filter((r) => r.scenario === 'echo stream');
  return runners.map(([scenario]) => {
    const rounds = runs.filter((r) => r.scenario === scenario);
    const med = (f: (r: StreamRun) => number) => median(rounds.map(f));
    const cell: StreamCell = {
      scenario,
      rounds,
      median: {
        mibPerSec: med((r) => r.mibPerSec),
        serverCpuMsPerGiB: rounds[0]?.serverCpuMsPerGiB === undefined ? undefined : med((r) => r.serverCpuMsPerGiB!),
        clientCpuMsPerGiB: med((r) => r.clientCpuMsPerGiB),
        otherCpuPct: rounds[0]?.otherCpuPct === undefined ? undefined : med((r) => r.otherCpuPct!),
      },
    };
    if (scenario !== 'echo stream' && echoRuns.length > 0) {
      const perRound = rounds.map((r) => r.mibPerSec / echoRuns.find((e) => e.round === r.round)!.mibPerSec);
      cell.ratio = { perRound, median: median(perRound), ...minMax(perRound) };
    }
    return cell;
  });
}
