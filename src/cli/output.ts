import { cliIo } from './cli-io.js';

/** Prints `value` as JSON with --json, else the human form. Buffers print as base64 in JSON. */
export function print(json: boolean | undefined, value: unknown, human: () => string): void {
  const { stdout } = cliIo();
  if (json)
    stdout.write(
      `${JSON.stringify(value, (_k, v: unknown) => (isBufferJson(v) ? Buffer.from(v.data).toString('base64') : v), 2)}\n`,
    );
  else stdout.write(`${human()}\n`);
}

function isBufferJson(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((v as { data?: unknown }).data)
  );
}
