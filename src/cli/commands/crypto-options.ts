import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { writeStreamed } from '../content-io.js';
import { CLIENT_OPTIONS } from '../options.js';

/** The options of encrypt, decrypt and rewrap, and what they share. */
export const CRYPTO_OPTIONS = {
  ...CLIENT_OPTIONS,
  tenant: { type: 'string' },
  policy: { type: 'string' },
  context: { type: 'string', multiple: true },
  in: { type: 'string' },
  out: { type: 'string' },
  purpose: { type: 'string' },
  'request-id': { type: 'string' },
  'target-policy': { type: 'string' },
  stream: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

/** --out names a file (not absent, not `-` for stdout). */
export function toFile(path: string | undefined): path is string {
  return path !== undefined && path !== '' && path !== '-';
}

export function purposeOption(value: string | undefined): 'PURPOSE_USER' | 'PURPOSE_SYSTEM' {
  if (value === undefined || value === 'user') return 'PURPOSE_USER';
  if (value === 'system') return 'PURPOSE_SYSTEM';
  throw new UsageError('--purpose must be user or system');
}

/**
 * Writes `data` to `path` or stdout. A file is written beside it under a temporary name and renamed over it
 * (writeStreamed), so `--in X --out X` never leaves X truncated when the write fails (disk full, killed).
 */
export async function writeOutput(path: string | undefined, data: Buffer): Promise<void> {
  if (path && path !== '-') {
    await writeStreamed(path, [data]);
    return;
  }
  const { stdout } = cliIo();
  await new Promise<void>((resolve, reject) => stdout.write(data, (err) => (err ? reject(err) : resolve())));
}
