import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { grpcFrame, lenField, mapEntry, readField } from '../../test/helpers/proto-wire.js';
import { GRPC_HEADERS, outcomeOf, rawClient, rawSession, rawUnary } from './raw-grpc.js';

/**
 * The attacks of the hostile-input benchmark (bench/hostile.ts), each bounded in time, each on connections of
 * its own. An attack returns what the attacker got back (status labels and how many times), notes, and,
 * where the attack has one, whether it was refused as it should be.
 */

export interface AttackContext {
  address: string;
  tenant: string;
  policy: string;
  /** A Decrypt-able block envelope (4 KiB of content). */
  envelope: Buffer;
  /** A segmented envelope from EncryptStream (256 KiB of content, default segment size). */
  streamEnvelope: Buffer;
  /** How long idle streams are held open. */
  holdMs: number;
}

export interface AttackOutcome {
  got: Map<string, number>;
  notes: string[];
  /** undefined: the attack has no refusal to expect (only the memory and latency aims). */
  refused?: boolean;
}

export interface Attack {
  name: string;
  describe: string;
  run(ctx: AttackContext): Promise<AttackOutcome>;
}

const CRYPTO = '/unwrapd.v1.Crypto';
const MiB = 1024 * 1024;

function tally(labels: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of labels) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records how a raw session ended: the GOAWAY the daemon sent (HTTP/2 error code) or the session's error. */
function watchSession(session: http2.ClientHttp2Session): () => string[] {
  const seen: string[] = [];
  session.on('goaway', (code, lastStreamId) =>
    seen.push(`connection: GOAWAY from the daemon, error code ${code}, last stream ${lastStreamId}`),
  );
  session.on('error', (err: NodeJS.ErrnoException) =>
    seen.push(`connection: session error ${err.code ?? ''} ${err.message}`.trim()),
  );
  return () => [...new Set(seen)];
}

/** A DecryptBatchRequest of `items` empty items: field 2, length 0, again and again (2 bytes each). */
function emptyItemsBatch(tenant: string, items: number): Buffer {
  const head = lenField(1, tenant);
  const body = Buffer.alloc(head.length + 2 * items);
  head.copy(body);
  for (let i = head.length; i < body.length; i += 2) body[i] = 0x12;
  return body;
}

async function batchAttack(ctx: AttackContext, calls: number): Promise<AttackOutcome> {
  const body = emptyItemsBatch(ctx.tenant, 2_300_000);
  const client = rawClient(ctx.address);
  try {
    const results = await Promise.all(
      Array.from({ length: calls }, () => rawUnary(client, `${CRYPTO}/DecryptBatch`, body, 120_000)),
    );
    const notes = [
      `${(body.length / 1e6).toFixed(1)} MB each; answered in ${results.map((r) => `${r.ms.toFixed(0)} ms`).join(', ')}`,
    ];
    const details = [...new Set(results.map((r) => r.details).filter(Boolean))];
    if (details.length) notes.push(`details: ${details.map((d) => JSON.stringify(d.slice(0, 120))).join('; ')}`);
    return {
      got: tally(results.map((r) => r.status)),
      notes,
      refused: results.every((r) => r.status !== 'OK' && r.ms < 1_000),
    };
  } finally {
    client.close();
  }
}

/** A raw DecryptStream: header message, then whatever `chunks` says, with backpressure; `ended` carries its status. */
function openDecryptStream(client: grpc.Client, tenant: string) {
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(
    `${CRYPTO}/DecryptStream`,
    (b) => b,
    (b) => b,
    new grpc.Metadata(),
    {},
  );
  call.on('data', () => {});
  let status: string | undefined;
  const ended = new Promise<string>((resolve) => {
    call.on('status', (s: grpc.StatusObject) => resolve((status ??= grpc.status[s.code] ?? String(s.code))));
    call.on('error', () => {});
  });
  const write = async (msg: Buffer) => {
    if (status !== undefined) return false;
    if (!call.write(msg)) await Promise.race([new Promise((r) => call.once('drain', r)), ended]);
    return status === undefined;
  };
  void write(lenField(1, lenField(1, tenant)));
  return { call, ended, write, status: () => status };
}

/** Where the segment size (u32, 65536) sits in a segmented envelope's header: §8 of docs/envelope-format.md, else found by value. */
function segmentSizeOffset(envelope: Buffer): number | undefined {
  const t = envelope[5]!;
  if (envelope.readUInt32BE(50 + t) === 65536) return 50 + t;
  for (let off = 6 + t; off + 4 <= Math.min(envelope.length, 400); off++)
    if (envelope.readUInt32BE(off) === 65536) return off;
  return undefined;
}

const HEADER_PREFIX = 320; // more than any header (v1: at most 229 bytes): header and the start of segment 0

export const ATTACKS: Attack[] = [
  {
    name: 'batch-2.3M-empty',
    describe: 'one 4.6 MB DecryptBatch of 2.3 million empty items',
    run: (ctx) => batchAttack(ctx, 1),
  },
  {
    name: 'batch-2.3M-empty-x4',
    describe: 'four of those at once',
    run: (ctx) => batchAttack(ctx, 4),
  },
  {
    name: 'idle-streams-40',
    describe: '40 DecryptStreams: stream header and envelope header sent, then nothing',
    async run(ctx) {
      const client = rawClient(ctx.address);
      const streams = Array.from({ length: 40 }, () => openDecryptStream(client, ctx.tenant));
      for (const s of streams) void s.write(lenField(2, ctx.streamEnvelope.subarray(0, HEADER_PREFIX)));
      await sleep(ctx.holdMs);
      const labels = streams.map((s) => s.status() ?? `still open after ${ctx.holdMs / 1000} s`);
      for (const s of streams) s.call.cancel();
      client.close();
      return { got: tally(labels), notes: [] };
    },
  },
  {
    name: 'segment-size-4MiB',
    describe:
      '40 DecryptStreams whose envelope header says 4 MiB segments (edited from 64 KiB), each followed by 4 MiB - 1 bytes',
    async run(ctx) {
      const off = segmentSizeOffset(ctx.streamEnvelope);
      if (off === undefined) return { got: new Map([['segment size not found in the header', 1]]), notes: [] };
      const edited = Buffer.from(ctx.streamEnvelope.subarray(0, HEADER_PREFIX));
      edited.writeUInt32BE(4 * MiB, off);
      const client = rawClient(ctx.address);
      const streams = Array.from({ length: 40 }, () => openDecryptStream(client, ctx.tenant));
      const junk = Buffer.alloc(64 * 1024, 0xa5);
      const stopAt = Date.now() + 20_000;
      const sent = await Promise.all(
        streams.map(async (s) => {
          let bytes = 0;
          if (!(await s.write(lenField(2, edited)))) return bytes;
          bytes += edited.length;
          while (bytes < 4 * MiB - 1 && Date.now() < stopAt) {
            const n = Math.min(junk.length, 4 * MiB - 1 - bytes);
            if (!(await s.write(lenField(2, junk.subarray(0, n))))) break;
            bytes += n;
          }
          return bytes;
        }),
      );
      await sleep(1_000);
      const labels = streams.map((s) => s.status() ?? 'still open (accepted)');
      for (const s of streams) s.call.cancel();
      client.close();
      const total = sent.reduce((a, b) => a + b, 0);
      return {
        got: tally(labels),
        notes: [
          `segment size at header offset ${off}; the daemon took ${(total / MiB).toFixed(1)} MiB from the 40 streams`,
        ],
        refused: labels.every((l) => !l.startsWith('still open') && l !== 'OK'),
      };
    },
  },
  {
    name: 'invalid-utf8-context',
    describe: 'Encrypt with context value bytes 61 ff; Decrypt with "a\\uFFFD" and with bytes 61 fe',
    async run(ctx) {
      const client = rawClient(ctx.address);
      try {
        const plaintext = lenField(3, Buffer.from('hostile'));
        const enc = await rawUnary(
          client,
          `${CRYPTO}/Encrypt`,
          Buffer.concat([
            lenField(1, ctx.tenant),
            lenField(2, ctx.policy),
            plaintext,
            mapEntry(4, 'k', Buffer.from([0x61, 0xff])),
          ]),
          10_000,
        );
        const labels = [`Encrypt(k=61 ff) ${enc.status}`];
        let collision = false;
        const envelope = enc.status === 'OK' && enc.response ? readField(enc.response, 1) : undefined;
        if (envelope) {
          for (const [name, value] of [
            ['"a\\uFFFD"', Buffer.from('a\uFFFD', 'utf8')],
            ['61 fe', Buffer.from([0x61, 0xfe])],
          ] as const) {
            const dec = await rawUnary(
              client,
              `${CRYPTO}/Decrypt`,
              Buffer.concat([lenField(1, ctx.tenant), lenField(2, envelope), mapEntry(3, 'k', value)]),
              10_000,
            );
            labels.push(`Decrypt(k=${name}) ${dec.status}`);
            if (dec.status === 'OK') collision = true;
          }
        }
        return {
          got: tally(labels),
          notes: collision ? ['an envelope sealed with one byte string opened with another'] : [],
          refused: enc.status === 'INVALID_ARGUMENT',
        };
      } finally {
        client.close();
      }
    },
  },
  {
    name: 'cancel-flood-5000',
    describe: '5,000 Decrypts on one HTTP/2 connection, each reset (CANCEL) as soon as its headers are out',
    async run(ctx) {
      const session = await rawSession(ctx.address);
      const ended = watchSession(session);
      const frame = grpcFrame(Buffer.concat([lenField(1, ctx.tenant), lenField(2, ctx.envelope)]));
      const outcomes: Promise<string>[] = [];
      const stopAt = Date.now() + 20_000;
      for (let i = 0; i < 5_000 && !session.closed && !session.destroyed && Date.now() < stopAt; i++) {
        let req: http2.ClientHttp2Stream;
        try {
          req = session.request({ ...GRPC_HEADERS, ':path': `${CRYPTO}/Decrypt` });
        } catch (err) {
          outcomes.push(Promise.resolve((err as NodeJS.ErrnoException).code ?? 'request refused'));
          break;
        }
        outcomes.push(outcomeOf(req));
        req.end(frame);
        req.once('ready', () => req.close(http2.constants.NGHTTP2_CANCEL));
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      }
      const labels = await Promise.race([
        Promise.all(outcomes),
        sleep(20_000).then(() => ['timed out waiting for the resets']),
      ]);
      session.destroy();
      const got = tally(
        labels.map((l) => (l === `RST ${http2.constants.NGHTTP2_CANCEL}` ? 'reset by the attacker (CANCEL)' : l)),
      );
      return { got, notes: [`${outcomes.length} calls issued`, ...ended()] };
    },
  },
  {
    name: 'never-read-encrypt-stream',
    describe: 'one EncryptStream whose responses are never read, fed 64 KiB chunks for up to 15 s (256 MiB at most)',
    async run(ctx) {
      const session = await rawSession(ctx.address);
      session.on('error', () => {});
      const req = session.request({ ...GRPC_HEADERS, ':path': `${CRYPTO}/EncryptStream` });
      const outcome = outcomeOf(req);
      req.pause(); // never read: no WINDOW_UPDATE goes back once the first window is full
      let ended: string | undefined;
      void outcome.then((o) => (ended = o));
      const writeAll = async (buf: Buffer) => {
        if (req.write(buf)) return true;
        const drained = await Promise.race([
          new Promise<boolean>((r) => req.once('drain', () => r(true))),
          sleep(3_000).then(() => false),
          outcome.then(() => false),
        ]);
        return drained;
      };
      await writeAll(grpcFrame(lenField(1, Buffer.concat([lenField(1, ctx.tenant), lenField(2, ctx.policy)]))));
      const chunk = grpcFrame(lenField(2, Buffer.alloc(64 * 1024, 0x42)));
      let sent = 0;
      const stopAt = Date.now() + 15_000;
      let stalled = false;
      while (ended === undefined && Date.now() < stopAt && sent < 256 * MiB) {
        if (!(await writeAll(chunk))) {
          stalled = ended === undefined;
          break;
        }
        sent += 64 * 1024;
      }
      await sleep(500);
      const label = ended ?? (stalled ? 'held by flow control (the daemon stopped reading)' : 'still taking input');
      req.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
      return {
        got: new Map([[label, 1]]),
        notes: [`the daemon took ${(sent / MiB).toFixed(1)} MiB of plaintext while nothing was read`],
        refused: sent < 64 * MiB,
      };
    },
  },
  {
    name: 'huge-metadata',
    describe: '100 Decrypts at once, each with 1 MiB of metadata (16 headers of 64 KiB)',
    async run(ctx) {
      const session = await rawSession(ctx.address, {
        maxSendHeaderBlockLength: 64 * MiB,
        maxHeaderListPairs: 1_000,
      } as http2.ClientSessionOptions);
      const ended = watchSession(session);
      const pad = 'p'.repeat(64 * 1024);
      const headers: http2.OutgoingHttpHeaders = { ...GRPC_HEADERS, ':path': `${CRYPTO}/Decrypt` };
      for (let i = 0; i < 16; i++) headers[`x-pad-${i}`] = pad;
      const frame = grpcFrame(Buffer.concat([lenField(1, ctx.tenant), lenField(2, ctx.envelope)]));
      const outcomes: Promise<string>[] = [];
      for (let i = 0; i < 100 && !session.closed && !session.destroyed; i++) {
        try {
          const req = session.request(headers);
          outcomes.push(outcomeOf(req));
          req.end(frame);
        } catch (err) {
          outcomes.push(Promise.resolve((err as NodeJS.ErrnoException).code ?? 'request refused'));
          break;
        }
      }
      const labels = await Promise.race([Promise.all(outcomes), sleep(20_000).then(() => ['timed out'])]);
      session.destroy();
      return { got: tally(labels), notes: ended(), refused: labels.every((l) => l !== 'grpc-status OK') };
    },
  },
];
