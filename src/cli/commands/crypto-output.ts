import { cliIo } from '../cli-io.js';
import { writeStreamed } from '../content-io.js';
import { print } from '../output.js';
import { Progress } from '../progress.js';
import { toFile, writeOutput } from './crypto-options.js';

/** The options that decide where encrypt, decrypt and rewrap write and what they print. */
interface OutputValues {
  out?: string;
  json?: boolean;
  quiet?: boolean;
}

/** With --json: the summary of an output written to --out (`segmented`, `out`, then `fields`). */
export function printSummary(values: OutputValues, segmented: boolean, fields: Record<string, unknown>): void {
  if (values.json) print(true, { segmented, out: values.out, ...fields }, () => '');
}

/**
 * A single-block result: written to --out (then the --json summary `fields`, `meta`), or with --json to
 * stdout as `{ [name]: base64, ...meta }`, or written raw to stdout.
 */
export async function writeBlockResult(
  values: OutputValues,
  name: string,
  data: Buffer,
  fields: Record<string, unknown>,
  meta: Record<string, unknown>,
): Promise<void> {
  if (toFile(values.out)) {
    await writeOutput(values.out, data);
    printSummary(values, false, { ...fields, ...meta });
  } else if (values.json) print(true, { [name]: data.toString('base64'), ...meta }, () => '');
  else await writeOutput(values.out, data);
}

/**
 * Starts the progress meter of a streamed `label` (on stderr when it is a terminal, not --quiet) and returns
 * the writer: it streams `source` to --out (or stdout), updates the meter with `bytesRead()`, ends it, and
 * resolves to the bytes written.
 */
export function streamedOutput(
  label: string,
  values: OutputValues,
  total: number | undefined,
): (source: AsyncIterable<Buffer>, bytesRead: () => number) => Promise<number> {
  const progress = new Progress(label, total, !values.quiet && cliIo().stderr.isTTY === true);
  return async (source, bytesRead) => {
    try {
      const written = await writeStreamed(values.out, source, () => progress.update(bytesRead()));
      progress.finish(bytesRead());
      return written;
    } finally {
      progress.end();
    }
  };
}
