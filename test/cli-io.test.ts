import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import type { CliIo } from '../src/cli/cli-io.js';
import { runCommandLine } from '../src/cli/run.js';
import { runCliInProcess } from './helpers/run-cli.js';
import { CLI } from './helpers/serve-process.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * The CLI's IO is injected (src/cli/cli-io.ts): a command line run in-process writes only to its own streams,
 * reads its own environment and stops on its own stop signal; in a process, SIGINT and SIGTERM end `events`
 * and `audit follow` with exit 0.
 */
let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
  await createPolicy(d.client, 'signalled');
});
test.after.always(async () => {
  await d?.stop();
});

/** An IO whose stdout resolves `firstLine` at its first line, and whose stop signal the test gives (`stop`). */
function followIo() {
  let out = '';
  let hooked: (() => void) | undefined;
  let unhooked = 0;
  let lineSeen: () => void = () => {};
  const firstLine = new Promise<void>((resolve) => (lineSeen = resolve));
  const io: CliIo = {
    stdin: Readable.from([]),
    stdout: new Writable({
      write(chunk: Buffer, _encoding, done) {
        out += chunk.toString();
        if (out.includes('\n')) lineSeen();
        done();
      },
    }),
    stderr: new Writable({ write: (_c, _e, done) => done() }),
    env: process.env,
    onStopSignal(stop) {
      hooked = stop;
      return () => unhooked++;
    },
  };
  return { io, firstLine, out: () => out, stop: () => hooked!(), unhooked: () => unhooked };
}

test('audit follow and events in-process end with 0 on the injected stop signal, and unhook it', async (t) => {
  t.timeout(60_000);
  for (const argv of [
    ['audit', 'follow', '--from', '1', '--json'],
    ['events', '--from', '1', '--json'],
  ]) {
    const f = followIo();
    const code = runCommandLine([...argv, '--address', d.daemon.address], f.io);
    await f.firstLine;
    f.stop();
    t.is(await code, 0, argv.join(' '));
    t.true(f.out().length > 0);
    for (const l of f.out().trimEnd().split('\n')) t.notThrows(() => JSON.parse(l) as unknown, l);
    t.is(f.unhooked(), 1, `${argv.join(' ')}: the stop signal is unhooked`);
  }
});

test('concurrent in-process runs each keep their own environment and output', async (t) => {
  const runs = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      runCliInProcess(['config', 'check', '--json'], '', {
        env: { PATH: process.env.PATH ?? '', UNWRAPD_DATA_DIR: `/tmp/uwd-cli-io-${i}` },
      }),
    ),
  );
  runs.forEach((r, i) => {
    t.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { settings: { key: string; value: unknown }[] };
    t.is(out.settings.find((s) => s.key === 'dataDir')?.value, `/tmp/uwd-cli-io-${i}`);
  });
});

for (const [argv, signal] of [
  [['events', '--from', '1'], 'SIGINT'],
  [['audit', 'follow', '--from', '1'], 'SIGTERM'],
] as const) {
  test(`in a process, ${signal} ends \`unwrapd ${argv.join(' ')}\` with exit 0`, async (t) => {
    t.timeout(60_000);
    const child = spawn(process.execPath, [CLI, ...argv, '--address', d.daemon.address], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    // The first line printed: the stream is open, and the signal handlers hooked before it was.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve();
      });
      void exited.then(() => reject(new Error(`exited before printing: ${err}`)));
    });
    child.kill(signal);
    const [code, bySignal] = await exited;
    t.is(bySignal, null, `ended by its own handler, not killed by ${signal}: ${err}`);
    t.is(code, 0, err);
    t.regex(out, /signalled|demo/);
  });
}
