/**
 * A child process for the multi-process and crash tests:
 *
 *   node --import=tsx test/helpers/registry-writer.ts <registry-path> <tenant> <id> [id...]
 *
 * Opens the file registry (without watching), prints `READY`, then creates one policy per id in order and
 * prints `ACK <id>` once each create has resolved (so is durable). Exits 0 when done, 1 on any error.
 */
import { createFileRegistry } from '../../src/registry/file-registry.js';
import { makePolicyRecord } from './policy-fixture.js';

async function main(args: string[]): Promise<void> {
  const [path, tenant, ...ids] = args;
  if (!path || !tenant || ids.length === 0)
    throw new Error('usage: registry-writer.ts <registry-path> <tenant> <id> [id...]');
  const registry = createFileRegistry({ path, watch: false });
  await registry.open();
  process.stdout.write('READY\n');
  for (const id of ids) {
    await registry.create(makePolicyRecord({ tenant, id }));
    process.stdout.write(`ACK ${id}\n`);
  }
  await registry.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const code = (err as { code?: unknown }).code;
  process.stderr.write(
    `registry-writer failed: ${typeof code === 'string' ? `${code}: ` : ''}${String((err as Error).message)}\n`,
  );
  process.exit(1);
});
