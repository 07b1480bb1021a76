import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sealSegmented } from './helpers/sealed-envelope.js';
import { requireSystemDependency } from './helpers/system-dependency.js';
import { createPolicy, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// examples/python/unwrapd_client.py, on Debian's grpcio (python3-grpcio, python3-grpc-tools, python3-protobuf,
// installed by .ci/run), against a real daemon at its default settings over its Unix socket, with a default
// Python channel (4 MiB receive limit). Debian's python is /usr/bin/python3 (another python3 may come first on
// PATH without these modules). Without them the tests are skipped with a notice, or fail under CI=true.

/** Debian's python, or another one to try (UNWRAPD_TEST_PYTHON). */
const PYTHON = process.env.UNWRAPD_TEST_PYTHON ?? '/usr/bin/python3';
const SCRIPT = new URL('../examples/python/unwrapd_client.py', import.meta.url).pathname;
const probe = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools.protoc, google.protobuf'], { encoding: 'utf8' });
const available = requireSystemDependency(test, import.meta.url, {
  name: "Debian's gRPC for Python",
  available: probe.status === 0,
  installHint: `apt-get install python3-grpcio python3-grpc-tools python3-protobuf (for ${PYTHON})`,
});
const pyTest = available ? test.serial : test.serial.skip;
const run = promisify(execFile);

let d: TestDaemon;
let segmentedFile: string;
let segmentedDigest: string;
test.before(async () => {
  if (!available) return;
  d = await startTestDaemon();
  await createPolicy(d.client, 'revoked-box');
  await d.client.revoke({ tenant: 'demo', id: 'revoked-box', reason: 'typed error example' });
  // A stored envelope with the largest segments the daemon reads at its defaults (streamMaxSegmentBytes), sealed
  // with the daemon's key (its EncryptStream writes streamSegmentBytes).
  const ref = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
  const S = d.config.streamMaxSegmentBytes;
  const content = randomBytes(2 * S + 3);
  segmentedDigest = createHash('sha256').update(content).digest('hex');
  const envelope = await sealSegmented(d, ref, content, S);
  segmentedFile = join(d.dir, 'large-segments.uwe');
  await writeFile(segmentedFile, envelope);
});
test.after.always(async () => {
  await d?.stop();
});

interface Step {
  step: string;
  ok: boolean;
  [field: string]: unknown;
}

/** Runs the example (asynchronously: the daemon runs in this process) and parses its JSON lines. */
async function example(...args: string[]): Promise<Step[]> {
  const { stdout } = await run(PYTHON, [SCRIPT, '--address', d.daemon.address, ...args], {
    timeout: 110_000,
    maxBuffer: 1024 * 1024,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Step);
}

function requireGrpc(t: import('ava').ExecutionContext): boolean {
  if (available) return true;
  t.fail(
    `${PYTHON} cannot import grpc (${probe.stderr.trim().split('\n').at(-1)}): install python3-grpcio python3-grpc-tools python3-protobuf (.ci/run does)`,
  );
  return false;
}

pyTest(
  'Python example (default channel): the largest block, a full batch, a stream, and the largest segments the daemon reads',
  async (t) => {
    if (!requireGrpc(t)) return;
    const c = d.config;
    const steps = await example(
      '--steps',
      'unary,batch,stream,segmented',
      '--max-block-bytes',
      String(c.maxBlockBytes),
      '--batch-max-items',
      String(c.batchMaxItems),
      '--batch-max-bytes',
      String(c.batchMaxBytes),
      '--segmented-envelope',
      segmentedFile,
    );
    t.log(steps.map((s) => JSON.stringify(s)).join('\n'));
    t.deepEqual(
      steps.map((s) => [s.step, s.ok]),
      [
        ['unary', true],
        ['batch', true],
        ['stream', true],
        ['segmented', true],
      ],
    );
    const [unary, batch, stream, segmented] = steps as [Step, Step, Step, Step];
    t.is(unary.plaintext_bytes, c.maxBlockBytes);
    t.is(batch.items, c.batchMaxItems);
    t.is(batch.plaintext_bytes, c.batchMaxBytes);
    t.true((stream.content_bytes as number) > c.maxBlockBytes);
    t.is(segmented.sha256, segmentedDigest);
    t.is(segmented.largest_response, c.streamMaxSegmentBytes);
  },
);

pyTest('typed errors: the Python example reads POLICY_REVOKED from grpc-status-details-bin', async (t) => {
  if (!requireGrpc(t)) return;
  const [step] = await example('--steps', 'typed-error', '--revoked-policy', 'revoked-box');
  t.log(JSON.stringify(step));
  t.is(step!.code, 'FAILED_PRECONDITION');
  t.is(step!.reason, 'POLICY_REVOKED');
});
