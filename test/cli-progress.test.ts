import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Progress } from '../src/cli/progress.js';
import { demoEncryptArgs, runCliInProcess } from './helpers/run-cli.js';
import { startTestDaemon } from './helpers/test-daemon.js';

/** The progress meter of a streamed encrypt or decrypt, with a clock the test moves, writing into `out`. */
function meter(enabled: boolean, total?: number) {
  const io = { text: '', ms: 1000, write: (s: string) => (io.text += s), now: () => io.ms };
  return { io, progress: new Progress('encrypt', total, enabled, io) };
}

const MiB = 1024 * 1024;

/** What stderr shows after the meter's line was cleared (all of it when the meter never drew). */
const summary = (stderr: string) => stderr.split('\x1b[2K').at(-1) ?? '';

test('the meter ends with one summary line: bytes, time, MiB/s', (t) => {
  const { io, progress } = meter(true, 6 * MiB);
  progress.update(MiB);
  t.is(io.text, '\rencrypt: 1.0 MiB / 6.0 MiB (16 %), 1000.0 MiB/s   ');
  io.ms += 100;
  progress.update(2 * MiB); // within 200 ms of the last: not drawn
  io.ms += 1900;
  progress.update(5 * MiB);
  io.text = '';
  io.ms += 1000;
  progress.finish(6 * MiB);
  t.is(
    io.text,
    '\r\x1b[2Kencrypt: 6291456 bytes (6.0 MiB) in 3.0 s, 2.0 MiB/s\n',
    'the meter cleared, then the summary',
  );
  io.text = '';
  progress.end(); // the command's `finally`
  t.is(io.text, '');
});

test('a failed run clears the meter and prints no summary; without a terminal (or --quiet) nothing at all', (t) => {
  const failed = meter(true);
  failed.progress.update(MiB);
  failed.io.text = '';
  failed.progress.end();
  t.is(failed.io.text, '\r\x1b[2K');

  const quiet = meter(false, MiB);
  quiet.progress.update(MiB / 2);
  quiet.progress.finish(MiB);
  quiet.progress.end();
  t.is(quiet.io.text, '');
});

test('unwrapd encrypt and decrypt of a large file, stderr a terminal: the summary line is the last thing printed', async (t) => {
  const d = await startTestDaemon();
  t.teardown(() => d.stop());
  const plaintext = randomBytes(2 * MiB + 3);
  const [input, envelope, output] = ['big.bin', 'big.uwe', 'big.out'].map((f) => join(d.dir, f)) as [
    string,
    string,
    string,
  ];
  await writeFile(input, plaintext);
  /** The CLI, in-process, with stderr taken for a terminal, as when a person runs it (a process: cli-usage.test.ts). */
  const cli = (...args: string[]) =>
    runCliInProcess([...args, '--address', d.daemon.address], '', { stderrIsTTY: true });

  const enc = await cli(...demoEncryptArgs(input, envelope));
  t.is(enc.code, 0, enc.stderr);
  t.regex(summary(enc.stderr), /^encrypt: 2097155 bytes \(2\.0 MiB\) in \d+\.\d s, \d+\.\d MiB\/s\n$/);
  const dec = await cli('decrypt', '--tenant', 'demo', '--in', envelope, '--out', output);
  t.is(dec.code, 0, dec.stderr);
  const envelopeBytes = (await readFile(envelope)).length;
  t.regex(summary(dec.stderr), new RegExp(`^decrypt: ${envelopeBytes} bytes \\(2\\.0 MiB\\) in \\d+\\.\\d s, `));
  t.true((await readFile(output)).equals(plaintext));

  const quiet = await cli(...demoEncryptArgs(input, envelope), '--quiet');
  t.is(quiet.stderr, '', '--quiet: no meter, no summary');
});
