import test from 'ava';
import { loadProto } from '../src/rpc/proto.js';
import { slopeMiBPerMinute } from '../bench/lib/proc-memory.js';
import { UsageError } from '../bench/lib/options.js';
import { parseThroughputOptions } from '../bench/lib/throughput-options.js';
import { grpcFrame, lenField, mapEntry, readField, varint } from './helpers/proto-wire.js';

// The soak's verdict and the hostile benchmark's hand-written requests rest on these helpers: a wrong slope
// would hide a leak, a wrong encoding would measure something other than the attack it names.

const MiB = 1024 * 1024;

test('slopeMiBPerMinute: a steady growth, a symmetric sawtooth and too few points', (t) => {
  const growing = Array.from({ length: 30 }, (_, i) => ({ t: i * 2, bytes: 100 * MiB + i * 2 * (MiB / 60) })); // 1 MiB per minute
  t.true(Math.abs(slopeMiBPerMinute(growing) - 1) < 1e-9);
  // A sawtooth (the GC's pattern) symmetric about the middle of the run: no trend.
  const saw = [0, 3, 1, 2, 2, 1, 3, 0].map((v, i) => ({ t: i * 10, bytes: 80 * MiB + v * MiB }));
  t.is(slopeMiBPerMinute(saw), 0);
  t.true(Number.isNaN(slopeMiBPerMinute(growing.slice(0, 2))));
});

test('raw-grpc: a hand-written DecryptBatchRequest of empty items decodes as that many items', (t) => {
  const items = 1000;
  const body = Buffer.concat([lenField(1, 'demo'), Buffer.alloc(2 * items).fill(Buffer.from([0x12, 0x00]))]);
  const { proto } = loadProto();
  const deserialize = (
    proto.unwrapd.v1.Crypto.service.DecryptBatch as unknown as {
      requestDeserialize(b: Buffer): { tenant: string; items: unknown[] };
    }
  ).requestDeserialize;
  const req = deserialize(body);
  t.is(req.tenant, 'demo');
  t.is(req.items.length, items);
});

test('raw-grpc: invalid UTF-8 in a context value reaches the wire as written', (t) => {
  const entry = mapEntry(4, 'k', Buffer.from([0x61, 0xff]));
  t.deepEqual(readField(readField(entry, 4)!, 2), Buffer.from([0x61, 0xff]));
  const msg = Buffer.concat([lenField(1, 'demo'), lenField(2, Buffer.from([1, 2, 3])), entry]);
  t.deepEqual(readField(msg, 2), Buffer.from([1, 2, 3]));
  t.deepEqual(varint(300), Buffer.from([0xac, 0x02]));
  const framed = grpcFrame(msg);
  t.is(framed[0], 0);
  t.is(framed.readUInt32BE(1), msg.length);
});

test('bench:throughput --server-window / --client-window: sizes within HTTP/2 bounds, the server one not with --target', (t) => {
  const opts = parseThroughputOptions(['--server-window', '1m', '--client-window', '2m', '--no-json']);
  t.true(opts !== 'help' && opts.serverWindowBytes === MiB && opts.clientWindowBytes === 2 * MiB);
  const defaults = parseThroughputOptions(['--no-json']);
  t.true(defaults !== 'help' && defaults.serverWindowBytes === 65_535 && defaults.clientWindowBytes === undefined);
  t.throws(() => parseThroughputOptions(['--server-window', '1k']), { instanceOf: UsageError });
  // The daemon's own cap on http2StreamWindowBytes: refused here rather than by the server child's config.
  const largest = parseThroughputOptions(['--server-window', '16m', '--no-json']);
  t.true(largest !== 'help' && largest.serverWindowBytes === 16 * MiB);
  t.throws(() => parseThroughputOptions(['--server-window', String(16 * 1024 * 1024 + 1)]), {
    instanceOf: UsageError,
    message: /--server-window must be 65535 to 16777216 bytes/,
  });
  t.throws(() => parseThroughputOptions(['--client-window', '4g']), { instanceOf: UsageError });
  t.throws(() => parseThroughputOptions(['--server-window', '1m', '--target', 'unix:///x.sock']), {
    instanceOf: UsageError,
  });
});
