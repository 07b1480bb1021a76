import { UnwrapdClient } from '../../client/client.js';
import type { PolicyEvent__Output } from '../../generated/unwrapd/v1/PolicyEvent.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { followStream } from '../follow-stream.js';
import { adminAddress, CLIENT_OPTIONS, daemonAddress, parse } from '../options.js';

/**
 * `unwrapd events [--tenant T] [--from N] [--count N]`: follows WatchEvents, one line per policy event
 * (`--json`: one JSON object a line). `--from N` first replays every event from sequence N; `--count N`
 * stops after N events. Runs until interrupted otherwise.
 */
export async function events(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...CLIENT_OPTIONS,
    tenant: { type: 'string' },
    from: { type: 'string' },
    count: { type: 'string' },
  });
  const from = values.from ?? '0';
  if (!/^\d{1,15}$/.test(from)) throw new UsageError('--from must be a sequence number');
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (!(count > 0)) throw new UsageError('--count must be a positive integer');
  const { stdout } = cliIo();
  const client = new UnwrapdClient(daemonAddress(values), { adminAddress: adminAddress(values) });
  try {
    const stream = client.admin.WatchEvents({ tenant: values.tenant ?? '', fromSequence: from });
    return await followStream(stream, count, (e: PolicyEvent__Output) =>
      stdout.write(
        values.json
          ? `${JSON.stringify(e)}\n`
          : `${e.sequence}\t${e.at}\t${e.type}\t${e.tenant}/${e.policyId}\trevision ${e.revision}\n`,
      ),
    );
  } finally {
    client.close();
  }
}
