import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileRegistry } from '../src/registry/file-registry.js';
import { makePolicyRecord } from './helpers/policy-fixture.js';
import { childNodeArgs } from './helpers/compiled-child.js';

/**
 * Crash safety of the file registry: a writer SIGKILLed at a random moment (often mid-write, sometimes
 * holding the lock) must leave a file that loads, holds every policy it acknowledged, and a lock that
 * does not block the next writer.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The writer child, compiled once for this file (test/helpers/compiled-child.ts). */
const WRITER = await childNodeArgs(join(ROOT, 'test/helpers/registry-writer.ts'));
const ITERATIONS = 30;
const POLICIES_PER_WRITER = 40;
const MAX_KILL_DELAY_MS = 150;
const LOCK_TIMEOUT_MS = 5_000;

interface WriterRun {
  acked: string[];
  killed: boolean;
}

/** Starts the writer and SIGKILLs it `delayMs` after it has opened the registry (unless it finished first). */
function runAndKill(path: string, tenant: string, ids: string[], delayMs: number): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...WRITER, path, tenant, ...ids], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let pending = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? ''; // a line cut off by the kill is not an acknowledgement
      for (const line of lines) {
        if (line === 'READY') timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
        if (line.startsWith('ACK ')) acked.push(line.slice(4));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    // 'close' comes after the child is reaped and its pipes drained: every ACK it wrote has arrived, and
    // its pid is gone (a zombie would still look like a live lock owner).
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') return resolve({ acked, killed: true });
      if (code === 0) return resolve({ acked, killed: false });
      reject(new Error(`writer failed (exit ${code}): ${stderr}`));
    });
  });
}

const lockExists = (path: string) =>
  stat(`${path}.lock`).then(
    () => true,
    () => false,
  );

test('file registry survives writers killed at random moments: never torn, every ACK kept, stale locks broken', async (t) => {
  t.timeout(60_000);
  const dir = await mkdtemp(join(tmpdir(), 'unwrapd-registry-crash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'policies.json');
  const everAcked: Array<[tenant: string, id: string]> = [];
  const tally = { midStream: 0, beforeFirstAck: 0, finished: 0, lockLeftBehind: 0, slowestLockMs: 0 };
  const started = Date.now();

  for (let i = 0; i < ITERATIONS; i++) {
    const tenant = `crash-${String(i).padStart(2, '0')}`;
    const ids = Array.from({ length: POLICIES_PER_WRITER }, (_, k) => `p-${String(k).padStart(2, '0')}`);
    const run = await runAndKill(path, tenant, ids, Math.random() * MAX_KILL_DELAY_MS);
    for (const id of run.acked) everAcked.push([tenant, id]);
    if (!run.killed) tally.finished++;
    else if (run.acked.length === 0) tally.beforeFirstAck++;
    else tally.midStream++;
    if (await lockExists(path)) tally.lockLeftBehind++;

    // The file must load (a torn write would fail validation) and hold every acknowledged policy so far.
    const registry = createFileRegistry({ path, watch: false, lockTimeoutMs: LOCK_TIMEOUT_MS });
    await registry.open();
    const missing = everAcked.filter(([tn, id]) => registry.get(tn, id) === undefined);
    t.deepEqual(missing, [], `iteration ${i}: acknowledged policies are all present`);

    // Whatever lock the killed writer left must not block the next writer.
    const before = Date.now();
    await registry.create(makePolicyRecord({ tenant, id: 'survivor' }));
    tally.slowestLockMs = Math.max(tally.slowestLockMs, Date.now() - before);
    await registry.close();
  }

  const leftovers = (await readdir(dir)).filter((name) => name !== 'policies.json');
  t.deepEqual(leftovers, [], 'no temp files or locks remain after the last clean write');
  const doc = JSON.parse(await readFile(path, 'utf8')) as { policies: unknown[] };
  t.true(doc.policies.length >= everAcked.length + ITERATIONS);
  t.log({ ...tally, acked: everAcked.length, seconds: (Date.now() - started) / 1000 });
  t.true(tally.midStream >= 3, `writers killed mid-stream: ${tally.midStream} of ${ITERATIONS}`);
  t.true(tally.lockLeftBehind >= 1, 'some writer died holding the lock, so breaking a stale lock was exercised');
});
