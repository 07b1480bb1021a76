import test from 'ava';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { buffer as collect } from 'node:stream/consumers';
import { UnwrapdClient } from '../src/client/client.js';
import { kwpUnwrap } from '../src/crypto/aes-kwp.js';
import { parseEnvelope } from '../src/crypto/envelope.js';
import { hkdfSha256 } from '../src/crypto/hkdf.js';
import { SecretKey } from '../src/crypto/secret-key.js';
import { parseSegmentedHeader } from '../src/crypto/segmented-format.js';
import { deriveSegmentKeys } from '../src/crypto/segmented.js';
import { startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';
import { policyKeysFromFiles } from './helpers/policy-key-files.js';
import { scanProcess, type ScanResult } from './helpers/memory-scan.js';
import { createPolicy } from './helpers/test-daemon.js';

// The rule (docs/architecture.md, "Key material in memory"): once Evict or Revoke has answered, no copy of
// the policy's intermediate key, its KEK or a data key it wrapped is left anywhere in the daemon's memory,
// not even in garbage the collector has yet to reclaim. The daemon runs in a child process; this test reads
// that process's memory through /proc/<pid>/mem and counts the key bytes.

let p: DaemonProcess;
let client: UnwrapdClient;
test.before(async () => {
  p = await startDaemonProcess();
  client = new UnwrapdClient(p.address, { adminAddress: p.adminAddress });
});
test.after.always(async () => {
  client?.close();
  await p?.stop();
});

interface Keys {
  names: string[];
  bytes: Buffer[];
}

/** The policy's intermediate key and KEK, found the way an attacker with the files would: keystore + registry. */
async function policyKeys(policyId: string): Promise<{ ik: Buffer; kek: Buffer; version: number }> {
  const files = { registryPath: join(p.dir, 'policies.json'), keystorePath: join(p.dir, 'keystore.json') };
  const { activeVersion, versions } = await policyKeysFromFiles(files, 'demo', policyId);
  return versions.find((v) => v.version === activeVersion)!;
}

/**
 * Uses the policy's key every way a client can (Encrypt, Decrypt, a Decrypt whose wrapped key fails to
 * unwrap, EncryptStream, DecryptStream) and returns the keys to look for: the intermediate key, the KEK, and
 * the data and content keys of one envelope and one stream.
 */
async function useKeys(policyId: string): Promise<Keys> {
  const { ik, kek } = await policyKeys(policyId);
  const kekKey = SecretKey.copyFrom(kek);
  const context = { purpose: 'residue' };
  const sealed = (await client.encrypt({ tenant: 'demo', policyId, plaintext: Buffer.from('residue test'), context }))
    .envelope;
  await client.decrypt({ tenant: 'demo', envelope: sealed, context });
  // A wrapped data key that does not unwrap: AES-KWP fails in the middle of its cipher context.
  const tampered = Buffer.from(sealed);
  const at = tampered.indexOf(parseEnvelope(sealed).wrappedKey);
  tampered[at + 3]! ^= 1;
  await client.decrypt({ tenant: 'demo', envelope: tampered, context }).then(
    () => {
      throw new Error('a tampered envelope decrypted');
    },
    () => {},
  );
  const streamed = await collect(
    client.encryptStream({ tenant: 'demo', policyId, context }, [Buffer.alloc(100_000, 7)]),
  );
  await collect(client.decryptStream({ tenant: 'demo', context }, [streamed]));
  const block = parseEnvelope(sealed);
  const blockDataKey = kwpUnwrap(kekKey, block.wrappedKey);
  // The envelope's own suite (docs/envelope-format.md §3.3): Encrypt writes suite 2 by default.
  const blockContentKey = (
    block.suite === 1
      ? hkdfSha256(blockDataKey, block.nonce, Buffer.from('unwrapd/v1 block keys'), 64)
      : createHash('sha512')
          .update(Buffer.from([0, 0, 0, 1]))
          .update(blockDataKey)
          .update('unwrapd/v1 suite 2 block keys')
          .update(block.nonce)
          .digest()
  ).subarray(0, 32);
  const stream = parseSegmentedHeader(streamed)!;
  const streamDataKey = kwpUnwrap(kekKey, stream.wrappedKey);
  const streamContentKey = deriveSegmentKeys(streamDataKey, stream).subarray(0, 32);
  return {
    names: ['intermediate key', 'KEK', 'block data key', 'block content key', 'stream data key', 'stream content key'],
    bytes: [ik, kek, blockDataKey, blockContentKey, streamDataKey, streamContentKey],
  };
}

const copies = (r: ScanResult, k: number) => r.counts[k]! + r.halfCounts[k]!;

function report(keys: Keys, r: ScanResult): string {
  const per = keys.names.map((n, k) => `${n}: ${r.counts[k]} whole, ${r.halfCounts[k]} halves`).join('; ');
  const where = r.found.map((f) => `${keys.names[f.needle]} at ${f.address} in ${f.mapping} [${f.around}]`).join('; ');
  return `${per} (${(r.bytesRead / 2 ** 20).toFixed(0)} MiB in ${r.regions} regions)${where ? `; found: ${where}` : ''}`;
}

test.serial('the scan finds a cached KEK (the test can fail)', async (t) => {
  const keys = await useKeys('demo-mailbox');
  const r = scanProcess(p.pid, keys.bytes);
  t.log(report(keys, r));
  t.true(r.counts[1]! >= 1, `the cached KEK is found whole: ${report(keys, r)}`);
  t.true(r.bytesRead > 10 * 2 ** 20, 'the scan read the heap');
  // A block's data key and derived keys are zeroed when its call ends (src/crypto/envelope.ts), the digest of
  // suite 2's hash included: none is left even while the policy's key is cached.
  t.is(copies(r, 2), 0, `block data key: ${report(keys, r)}`);
  t.is(copies(r, 3), 0, `block content key: ${report(keys, r)}`);
});

test.serial(
  'after Evict no copy of the intermediate key, the KEK or a data key is left in the daemon memory',
  async (t) => {
    const keys = await useKeys('demo-mailbox');
    const res = await client.evict({ tenant: 'demo', id: 'demo-mailbox' });
    t.is(res.evicted, 1);
    const r = scanProcess(p.pid, keys.bytes); // the answer means done: no window to wait
    t.log(report(keys, r));
    for (const [k, name] of keys.names.entries()) t.is(copies(r, k), 0, `${name}: ${report(keys, r)}`);
  },
);

test.serial(
  'after Revoke no copy of the intermediate key, the KEK or a data key is left in the daemon memory',
  async (t) => {
    await createPolicy(client, 'residue-revoke');
    const keys = await useKeys('residue-revoke');
    await client.revoke({ tenant: 'demo', id: 'residue-revoke', reason: 'residue test' });
    const r = scanProcess(p.pid, keys.bytes); // the answer means done: no window to wait
    t.log(report(keys, r));
    for (const [k, name] of keys.names.entries()) t.is(copies(r, k), 0, `${name}: ${report(keys, r)}`);
  },
);
