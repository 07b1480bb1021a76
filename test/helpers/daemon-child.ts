/**
 * A daemon in a child process, for tests that measure the server's own memory (the client in the test
 * process would blur an in-process measurement). Run by test/helpers/daemon-process.ts as
 * `node --import=tsx --expose-gc test/helpers/daemon-child.ts [config overrides as JSON]` (or the same file
 * compiled by compiled-child.ts, without tsx).
 *
 * IPC protocol: the child sends {ready, address, adminAddress, dir} once; on {type: 'stats'} it runs full GCs
 * (young-generation ones with gc: 'young') and answers
 * {type: 'stats', memory: process.memoryUsage(), streams: daemon.streams.stats()}; on {type: 'stop'} (or
 * when the parent goes away) it shuts down, removes its temp dir and exits.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import './setup.js';

const overrides = JSON.parse(process.argv[2] ?? '{}') as Partial<Config>;
const dir = await mkdtemp(join(tmpdir(), 'uwd-child-'));
let daemon: Daemon | undefined;
let stopping: Promise<void> | undefined;

const stop = () =>
  (stopping ??= (async () => {
    await daemon?.shutdown().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  })());

process.on('disconnect', () => void stop());
process.on('message', (msg: { type?: string; gc?: 'full' | 'young' }) => {
  if (msg?.type === 'stop') void stop();
  if (msg?.type === 'stats' && daemon) {
    const gc = (globalThis as { gc?: (opts?: { type: 'major' | 'minor' }) => void }).gc;
    // Two GCs a turn apart: Buffers' memory is freed by a sweeper that may finish after the first. Young-generation
    // ones bound from above what full ones would leave, for a hundredth of their cost.
    // gc() with no argument for the full ones: `gc({ type: 'major' })` left stream-memory's samples far higher.
    const collect = () => (msg.gc === 'young' ? gc?.({ type: 'minor' }) : gc?.());
    collect();
    setImmediate(() => {
      collect();
      process.send?.({ type: 'stats', memory: process.memoryUsage(), streams: daemon!.streams.stats() });
    });
  }
});

// The test roles (test/helpers/test-daemon.ts): data socket user,system; admin socket every role.
// resolveConfig: derived defaults follow the overrides (see test/helpers/test-daemon.ts).
const config = resolveConfig(
  {
    dataDir: dir,
    shutdownTimeoutMs: 2_000,
    callerRoles: 'user,system',
    adminSocketRoles: 'user,system,admin,recovery',
    ...overrides,
  },
  { validate: false },
);
daemon = await startDaemon(config, { log: silentLogger });
process.send?.({ type: 'ready', address: daemon.address, adminAddress: daemon.adminAddress, dir });
