import test from 'ava';
import type { StreamCell } from '../bench/lib/stream-runs.js';
import type { CellResult } from '../bench/lib/interleaved-rounds.js';
import { targetLines, throughputTargets, type BatchCell } from '../bench/lib/throughput-report.js';
import { unaryTargets } from '../bench/lib/unary-report.js';

// The throughput benchmark's target lines: the batch against the echo of its bytes (items/s, per round) and the
// streams against the streaming echo, each PASS or MISS, and `----` when the cell was not measured.

function batchCell(scenario: string, concurrency: number, items: number, callsPerRound: number[]): BatchCell {
  const rounds = callsPerRound.map((opsPerSec, round) => ({ round, opsPerSec }));
  const sorted = [...callsPerRound].sort((a, b) => a - b);
  return {
    scenario,
    concurrency,
    items,
    rounds,
    median: { opsPerSec: sorted[Math.floor(sorted.length / 2)]! },
  } as unknown as BatchCell;
}

function streamCell(scenario: StreamCell['scenario'], perRound: number[] | undefined): StreamCell {
  const sorted = perRound && [...perRound].sort((a, b) => a - b);
  return {
    scenario,
    ...(sorted ? { ratio: { perRound, median: sorted[1]!, min: sorted[0]!, max: sorted[2]! } } : {}),
  } as unknown as StreamCell;
}

test('the batch is compared with the echo of the same bytes round by round, at concurrency 16', (t) => {
  // Round ratios (items/s): 0.9, 0.8, 0.95 -> median 0.9.
  const cells = [
    batchCell('unary encrypt', 16, 1, [100, 100, 100]),
    batchCell('batch 64 encrypt', 16, 64, [90, 80, 95]),
    batchCell('echo 64x4096 B', 16, 64, [100, 100, 100]),
    batchCell('batch 64 encrypt', 1, 64, [10, 10, 10]),
  ];
  const targets = throughputTargets(cells, []);
  const echo = targets.filter((x) => x.name.includes('Echo of the same bytes'));
  t.is(echo.length, 1); // concurrency 16 only
  t.true(Math.abs(echo[0]!.value! - 0.9) < 1e-9);
  t.is(echo[0]!.pass, true);
  t.regex(
    targetLines(echo)[0]!,
    /^target PASS: EncryptBatch 64 x item vs an Echo .*: 0\.90 \(goal 0\.85; range 0\.80-0\.95/,
  );
  const slow = throughputTargets([batchCell('batch 64 encrypt', 16, 64, [50, 50, 50]), cells[2]!], []);
  t.is(slow[0]!.pass, false);
  t.regex(targetLines(slow)[0]!, /^target MISS/);
});

test('without concurrency 16 or an echo the batch target is printed as not measured', (t) => {
  const notAt16 = throughputTargets([batchCell('batch 64 encrypt', 1, 64, [10, 10, 10])], []);
  t.regex(targetLines(notAt16)[0]!, /^target ----: EncryptBatch 64 x item vs an Echo .*not measured/);
  const noEcho = throughputTargets([batchCell('batch 64 encrypt', 16, 64, [10, 10, 10])], []);
  t.is(noEcho[0]!.pass, undefined);
  t.regex(noEcho[0]!.detail, /no echo baseline/);
});

test('each stream is held to 0.95 of the streaming echo', (t) => {
  const targets = throughputTargets(
    [],
    [
      streamCell('echo stream', undefined),
      streamCell('encrypt stream', [0.94, 0.96, 0.99]),
      streamCell('decrypt stream', [0.9, 0.93, 0.94]),
    ],
  );
  t.deepEqual(
    targets.map((x) => [x.name, x.bound, x.pass]),
    [
      ['encrypt stream vs streaming echo', 0.95, true],
      ['decrypt stream vs streaming echo', 0.95, false],
    ],
  );
});

test('each target carries the crypto floor measured beside it, and says whether the floor alone meets the goal', (t) => {
  // Batch: the floor (seal-echo) at 0.5 of the echo, the batch at 0.45.
  const batch = throughputTargets(
    [
      batchCell('batch 64 encrypt', 16, 64, [45, 45, 45]),
      batchCell('echo 64x4096 B', 16, 64, [100, 100, 100]),
      batchCell('seal-echo 64x4096 B', 16, 64, [50, 50, 50]),
    ],
    [],
  );
  t.is(batch[0]!.floor, 0.5);
  t.is(batch[0]!.floorMeets, false);
  t.regex(targetLines(batch)[0]!, /; crypto floor 0\.50, which alone misses the goal\)$/);
  // Streams: each against its own floor; the floors are not targets themselves.
  const streams = throughputTargets(
    [],
    [
      streamCell('echo stream', undefined),
      streamCell('seal-echo stream', [0.7, 0.72, 0.75]),
      streamCell('open-echo stream', [0.96, 0.97, 0.99]),
      streamCell('encrypt stream', [0.66, 0.7, 0.71]),
      streamCell('decrypt stream', [0.9, 0.93, 0.94]),
    ],
  );
  t.deepEqual(
    streams.map((x) => [x.name, x.floor, x.floorMeets]),
    [
      ['encrypt stream vs streaming echo', 0.72, false],
      ['decrypt stream vs streaming echo', 0.97, true],
    ],
  );
  t.regex(targetLines(streams)[1]!, /crypto floor 0\.97, which alone meets the goal/);
  // Without a floor cell (a --target run against an older echo), nothing is claimed.
  const none = throughputTargets([], [streamCell('echo stream', undefined), streamCell('encrypt stream', [1, 1, 1])]);
  t.is(none[0]!.floor, undefined);
  t.notRegex(targetLines(none)[0]!, /floor/);
});

test('the unary targets take their floors from seal-echo and open-echo at the same concurrency', (t) => {
  const ratio = (m: number) => ({ median: m, min: m, max: m, perRound: [m] });
  const cell = (scenario: string, concurrency: number, p50: number, ops: number) =>
    ({ scenario, concurrency, ratio: { p50: ratio(p50), opsPerSec: ratio(ops) } }) as unknown as CellResult;
  const targets = unaryTargets({
    payloadBytes: 4096,
    cacheMissesDuringRuns: 0,
    inProcess: [],
    cells: [
      cell('encrypt', 1, 1.3, 0.8),
      cell('seal-echo', 1, 1.15, 0.9),
      cell('decrypt', 1, 1.2, 0.85),
      cell('open-echo', 1, 1.05, 0.97),
      cell('encrypt', 64, 1.3, 0.8),
      cell('seal-echo', 64, 1.2, 0.85),
      cell('decrypt', 64, 1.2, 0.9),
      cell('open-echo', 64, 1.1, 0.96),
    ],
  });
  t.deepEqual(
    targets.map((x) => [x.name, x.floor, x.floorMeets]),
    [
      ['unary 4 KiB Encrypt p50 vs echo, concurrency 1', 1.15, false],
      ['unary 4 KiB Encrypt ops/s vs echo, concurrency 64', 0.85, false],
      ['unary 4 KiB Decrypt p50 vs echo, concurrency 1', 1.05, true],
      ['unary 4 KiB Decrypt ops/s vs echo, concurrency 64', 0.96, true],
    ],
  );
});
