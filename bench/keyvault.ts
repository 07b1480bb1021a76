/**
 * Azure Key Vault benchmark, through the real @azure/keyvault-keys SDK against the local fake
 * vault (test/helpers/fake-key-vault.ts: node:https on 127.0.0.1, RSA-2048 keys, so the vault side is a
 * local RSA decryption, not Azure's network and HSMs; the numbers are the SDK + HTTPS + our code):
 *
 *  1. cold unwrap latency (p50/p99):
 *     a. `provider.unwrap` on a warm SDK client (one HTTPS round trip; what a cache miss costs once the
 *        vault's client exists);
 *     b. the first unwrap of a new client (401 challenge + token + GET key + unwrapKey: a key's first use);
 *     c. a cold `Decrypt` through the daemon over its Unix socket (evict, then Decrypt: the cache miss,
 *        the hedged unwrap, the KEK derivation and the decryption).
 *  2. hedged vs unhedged: two vaults, vault A with +200 ms on every unwrapKey; cold Decrypts through a
 *     daemon with hedgeDelayMs 50 ("hedged") and through one with hedgeDelayMs 60000 ("unhedged": the
 *     second key is asked only after the first fails), interleaved in rounds.
 *
 * Run: `npm run bench:keyvault` (options: --warm N --clients N --cold N --hedge-requests N --slow-ms N
 * --hedge-ms N). Takes about 40 s with the defaults. A measurement, not a test: it always exits 0.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SecretKey } from '../src/crypto/secret-key.js';
import { createAzureKeyVaultProvider, type AzureProviderOptions } from '../src/providers/azure-key-vault-provider.js';
import { FakeKeyVault, fakeCredential } from '../test/helpers/fake-key-vault.js';
import { startTestDaemon, type TestDaemon } from '../test/helpers/test-daemon.js';
import { summarizeNs, type LatencySummary } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    warm: { type: 'string', default: '500' },
    clients: { type: 'string', default: '40' },
    cold: { type: 'string', default: '300' },
    'hedge-requests': { type: 'string', default: '200' },
    'slow-ms': { type: 'string', default: '200' },
    'hedge-ms': { type: 'string', default: '50' },
  },
});
const WARM = Number(values.warm);
const CLIENTS = Number(values.clients);
const COLD = Number(values.cold);
const HEDGE_REQUESTS = Number(values['hedge-requests']);
const SLOW_MS = Number(values['slow-ms']);
const HEDGE_MS = Number(values['hedge-ms']);

const [vaultA, vaultB] = await Promise.all([FakeKeyVault.start(), FakeKeyVault.start()]);
const sdkOptions = (): AzureProviderOptions => ({
  credential: fakeCredential(),
  tlsCa: vaultA.ca,
  allowedHostSuffixes: [],
  disableChallengeResourceVerification: true,
});
const rows: Array<[string, LatencySummary]> = [];
const daemons: TestDaemon[] = [];

async function timed(n: number, one: (i: number) => Promise<unknown>): Promise<LatencySummary> {
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await one(i);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  return summarizeNs(samples);
}

try {
  // 1a/1b: the provider alone.
  const uri = await vaultA.createKey('bench');
  const provider = createAzureKeyVaultProvider(sdkOptions());
  const key = SecretKey.copyFrom(randomBytes(32), true);
  const wrapped = await provider.wrap(uri, key, { signal: AbortSignal.timeout(10_000) });
  for (let i = 0; i < 50; i++) (await provider.unwrap(wrapped, { signal: AbortSignal.timeout(10_000) })).destroy(); // warm-up
  rows.push([
    '1a unwrap, warm SDK client',
    await timed(WARM, async () => (await provider.unwrap(wrapped, { signal: AbortSignal.timeout(10_000) })).destroy()),
  ]);
  rows.push([
    '1b first unwrap of a new client (challenge + GET + unwrap)',
    await timed(CLIENTS, async () => {
      const fresh = createAzureKeyVaultProvider(sdkOptions());
      (await fresh.unwrap(wrapped, { signal: AbortSignal.timeout(10_000) })).destroy();
      await fresh.close();
    }),
  ]);

  // 1c and 2: through daemons whose customer keys are in vault A and vault B.
  const start = async (hedgeDelayMs: number) => {
    const td = await startTestDaemon(
      { probeIntervalMs: 0, hedgeDelayMs, providerTimeoutMs: 10_000 },
      { extraProviders: [createAzureKeyVaultProvider(sdkOptions())] },
    );
    daemons.push(td);
    return td;
  };
  const hedged = await start(HEDGE_MS);
  const unhedged = await start(60_000);
  await Promise.all([vaultA.createKey('bench-a'), vaultB.createKey('bench-b')]);
  const policy = async (td: TestDaemon) => {
    await td.client.createPolicy({
      tenant: 'bench',
      id: 'kv',
      name: 'kv',
      mode: 'POLICY_MODE_MAILBOX',
      customerKeyA: vaultA.keyId('bench-a'),
      customerKeyB: vaultB.keyId('bench-b'),
      availabilityKey: 'local:demo-availability',
    });
    return (await td.client.encrypt({ tenant: 'bench', policyId: 'kv', plaintext: Buffer.alloc(4096, 7) })).envelope;
  };
  const envHedged = await policy(hedged);
  const envUnhedged = await policy(unhedged);
  const coldDecrypt = async (td: TestDaemon, envelope: Buffer): Promise<bigint> => {
    await td.client.evict({ tenant: 'bench', id: 'kv' });
    const t0 = process.hrtime.bigint();
    await td.client.decrypt({ tenant: 'bench', envelope });
    return process.hrtime.bigint() - t0;
  };
  for (let i = 0; i < 20; i++) await coldDecrypt(hedged, envHedged); // warm-up (clients, channels)
  for (let i = 0; i < 20; i++) await coldDecrypt(unhedged, envUnhedged);
  const cold = new Float64Array(COLD);
  for (let i = 0; i < COLD; i++) cold[i] = Number(await coldDecrypt(hedged, envHedged));
  rows.push(['1c cold Decrypt through the daemon (both vaults healthy)', summarizeNs(cold)]);

  vaultA.fault({ ops: ['unwrapkey'], action: { type: 'latency', ms: SLOW_MS } });
  const h = new Float64Array(HEDGE_REQUESTS);
  const u = new Float64Array(HEDGE_REQUESTS);
  const rounds = 4;
  const per = Math.ceil(HEDGE_REQUESTS / rounds);
  for (let r = 0, i = 0, j = 0; r < rounds; r++) {
    const order: Array<[TestDaemon, Buffer, Float64Array, 'h' | 'u']> = [
      [hedged, envHedged, h, 'h'],
      [unhedged, envUnhedged, u, 'u'],
    ];
    if (r % 2 === 1) order.reverse();
    for (const [td, env, out, which] of order) {
      for (let k = 0; k < per; k++) {
        const idx = which === 'h' ? i++ : j++;
        if (idx < HEDGE_REQUESTS) out[idx] = Number(await coldDecrypt(td, env));
      }
    }
  }
  rows.push([`2 cold Decrypt, vault A +${SLOW_MS} ms, hedged (hedgeDelayMs ${HEDGE_MS})`, summarizeNs(h)]);
  rows.push([`2 cold Decrypt, vault A +${SLOW_MS} ms, unhedged`, summarizeNs(u)]);
  vaultA.clearFaults();

  const ms = (us: number) => (us / 1000).toFixed(2).padStart(8);
  console.log(
    `\nAzure Key Vault provider, real SDK against the local fake vault (node ${process.version}, ${new Date().toISOString()})\n`,
  );
  console.log(
    `${'scenario'.padEnd(66)} ${'n'.padStart(5)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`,
  );
  for (const [name, s] of rows)
    console.log(`${name.padEnd(66)} ${String(s.count).padStart(5)} ${ms(s.p50Us)} ${ms(s.p99Us)} ${ms(s.maxUs)}`);
  const hedgedRow = rows.find(([n]) => n.includes('hedged (hedgeDelayMs'))?.[1];
  const unhedgedRow = rows.find(([n]) => n.endsWith('unhedged'))?.[1];
  if (hedgedRow && unhedgedRow)
    console.log(`\nhedged p99 / unhedged p99 = ${(hedgedRow.p99Us / unhedgedRow.p99Us).toFixed(2)}`);
  await provider.close();
} finally {
  for (const td of daemons) await td.stop();
  await Promise.all([vaultA.close(), vaultB.close()]);
}
