import test from 'ava';
import { lstatSync, watch } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestDaemon } from './helpers/test-daemon.js';
import { waitFor } from './helpers/wait-for.js';

test.serial(
  'the socket mode is in force before the socket is connectable: it never appears at its path with a wider mode',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'uwd-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const seen: Array<{ name: string; mode: number }> = [];
    const watcher = watch(dir, (_event, name) => {
      if (!name) return;
      try {
        seen.push({ name: String(name), mode: lstatSync(join(dir, String(name))).mode & 0o777 });
      } catch {
        // Gone again (the private bind directory).
      }
    });
    // With umask 0 a socket bound in place would be 0777 until chmod: the window this rules out.
    const umask = process.umask(0);
    let d;
    try {
      d = await startTestDaemon({ socketMode: 0o660 }, { dir });
    } finally {
      process.umask(umask);
    }
    try {
      // The watcher delivers what it saw asynchronously: wait until it has seen both sockets.
      await waitFor(
        () => seen.some((s) => s.name === 'unwrapd.sock') && seen.some((s) => s.name === 'admin.sock'),
        'the watcher to see both sockets',
      );
      const socket = seen.filter((s) => s.name === 'unwrapd.sock');
      const admin = seen.filter((s) => s.name === 'admin.sock');
      t.true(socket.length > 0 && admin.length > 0, JSON.stringify(seen));
      t.deepEqual([...new Set(socket.map((s) => s.mode))], [0o660]);
      t.deepEqual([...new Set(admin.map((s) => s.mode))], [0o600]);
      const bindDir = /^\.(unwrapd\.|admin\.so)-/;
      for (const s of seen.filter((x) => bindDir.test(x.name)))
        t.is(s.mode, 0o700, `the private bind directory ${s.name}`);
      t.deepEqual(
        (await readdir(dir)).filter((n) => bindDir.test(n)),
        [],
        'no bind directory left behind',
      );
      t.truthy(await d.client.getStatus(), 'both sockets answer at their final paths');
    } finally {
      watcher.close();
      await d.stop();
    }
  },
);

test("socketGroup sets the data socket group before it is connectable; the admin socket stays the daemon user's, 0600", async (t) => {
  // Root may give any group; otherwise a supplementary group of ours, else our own.
  const groups = process.getgroups?.() ?? [];
  const gid = process.getuid?.() === 0 ? 4242 : (groups.find((g) => g !== process.getgid?.()) ?? process.getgid!());
  const d = await startTestDaemon({ socketGroup: String(gid) });
  t.teardown(() => d.stop());
  const data = await stat(d.daemon.address.slice('unix://'.length));
  t.is(data.gid, gid);
  t.is(data.mode & 0o777, 0o660);
  const admin = await stat(d.daemon.adminAddress.slice('unix://'.length));
  t.is(admin.mode & 0o777, 0o600);
  t.is(admin.uid, process.getuid!());
});
