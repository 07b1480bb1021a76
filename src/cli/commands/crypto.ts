import { MAX_BLOCK_BYTES_LIMIT } from '../../config/config.js';
import { MAX_ENVELOPE_OVERHEAD } from '../../crypto/envelope-format.js';
import { envelopeKind, FORMAT_PREFIX_LENGTH } from '../../crypto/segmented-format.js';
import { UsageError } from '../cli-error.js';
import { openInput, readAll, type Input } from '../content-io.js';
import { contextOption, parse, required } from '../options.js';
import { CRYPTO_OPTIONS, purposeOption } from './crypto-options.js';
import { printSummary, streamedOutput, writeBlockResult } from './crypto-output.js';
import { notAnEnvelope } from './inspect.js';
import { withClient } from './policy.js';

export { rewrap } from './rewrap.js';

/**
 * `encrypt` sends inputs up to this size as one block (Encrypt: a single-block envelope) and streams larger
 * ones (EncryptStream: a segmented envelope), or any size with --stream. 1 MiB is below every sensible
 * maxBlockBytes, and holding it in memory is cheap. `decrypt` tells the two formats apart by the envelope's
 * flags byte.
 */
export const STREAM_THRESHOLD_BYTES = 1024 * 1024;

/**
 * `unwrapd encrypt`: a file or stdin in, an envelope out (a file or stdout). Up to 1 MiB: one block; larger
 * (or --stream): streamed into a segmented envelope, with progress on stderr when it is a terminal.
 */
export async function encrypt(args: string[]): Promise<number> {
  const { values } = parse(args, CRYPTO_OPTIONS);
  const input = await openInput(values.in, STREAM_THRESHOLD_BYTES + 1);
  if (values.stream || !input.complete) return encryptStreamed(values, input);
  const plaintext = input.head;
  let res;
  try {
    res = await withClient(values, (c, deadlineMs) =>
      c.encrypt(
        {
          tenant: required(values.tenant, 'tenant'),
          policyId: required(values.policy, 'policy'),
          plaintext,
          context: contextOption(values.context),
          purpose: purposeOption(values.purpose),
          requestId: values['request-id'] ?? '',
        },
        { deadlineMs },
      ),
    );
  } catch (err) {
    // The daemon's maxBlockBytes is below this input (under 1 MiB): stream it, as a larger input would be.
    const limit = blockLimitOf(err);
    if (limit === undefined) throw err;
    return encryptStreamed(values, input, `it is over the daemon's ${limit}, so it is streamed`);
  }
  await writeBlockResult(
    values,
    'envelope',
    res.envelope,
    { plaintextBytes: plaintext.length, envelopeBytes: res.envelope.length },
    { keyVersion: res.keyVersion },
  );
  return 0;
}

type CryptoValues = ReturnType<typeof parse<typeof CRYPTO_OPTIONS>>['values'];

/** Encrypt through EncryptStream into a segmented envelope; `why` says why an input that small is streamed. */
async function encryptStreamed(values: CryptoValues, input: Input, why?: string): Promise<number> {
  if (values.json && !values.out)
    throw new UsageError(`--json with a streamed (segmented) envelope needs --out FILE${why ? ` (${why})` : ''}`);
  const header = {
    tenant: required(values.tenant, 'tenant'),
    policyId: required(values.policy, 'policy'),
    context: contextOption(values.context),
    purpose: purposeOption(values.purpose),
    requestId: values['request-id'] ?? '',
  };
  const write = streamedOutput('encrypt', values, input.size);
  const out = await withClient(values, async (c, deadlineMs) => {
    const stream = c.encryptStream(header, input.all(), deadlineMs === undefined ? {} : { deadlineMs });
    try {
      const written = await write(stream, () => stream.bytesSent);
      return { written, read: stream.bytesSent, keyVersion: stream.keyVersion ?? 0 };
    } finally {
      input.close();
    }
  });
  printSummary(values, true, { plaintextBytes: out.read, envelopeBytes: out.written, keyVersion: out.keyVersion });
  return 0;
}

/** The daemon's block limit when `err` is Encrypt's refusal of a plaintext over it (either of the two checks). */
function blockLimitOf(err: unknown): string | undefined {
  const e = err as { reason?: unknown; errorInfo?: { metadata?: Record<string, string> } };
  const limit = e.errorInfo?.metadata?.limit;
  if (e.reason !== 'LIMIT_EXCEEDED' || (limit !== 'maxBlockBytes' && limit !== 'maxRequestBytes')) return undefined;
  return `${limit} of ${e.errorInfo?.metadata?.limit_value ?? '?'} bytes`;
}

/**
 * `unwrapd decrypt`: an envelope in (a file or stdin), the plaintext out (a file or stdout). A segmented
 * envelope (flags bit 0, what `encrypt` streams) is streamed through DecryptStream; a file output appears
 * only once the whole stream verified.
 */
export async function decrypt(args: string[]): Promise<number> {
  const { values } = parse(args, CRYPTO_OPTIONS);
  if (values.policy) throw new UsageError('decrypt takes no --policy: the envelope names its policy');
  const input = await openInput(values.in, FORMAT_PREFIX_LENGTH);
  const kind = envelopeKind(input.head.subarray(0, FORMAT_PREFIX_LENGTH));
  if (kind === 'unknown') {
    input.close();
    throw notAnEnvelope(); // before sending anything, whatever the size
  }
  if (kind === 'segmented') {
    if (values.json && !values.out) throw new UsageError('--json with a segmented envelope needs --out FILE');
    const header = {
      tenant: required(values.tenant, 'tenant'),
      context: contextOption(values.context),
      purpose: purposeOption(values.purpose),
      requestId: values['request-id'] ?? '',
    };
    const write = streamedOutput('decrypt', values, input.size);
    const out = await withClient(values, async (c, deadlineMs) => {
      const stream = c.decryptStream(header, input.all(), deadlineMs === undefined ? {} : { deadlineMs });
      try {
        const written = await write(stream, () => stream.bytesSent);
        return { written, policyId: stream.policyId ?? '', keyVersion: stream.keyVersion ?? 0 };
      } finally {
        input.close();
      }
    });
    printSummary(values, true, { plaintextBytes: out.written, policyId: out.policyId, keyVersion: out.keyVersion });
    return 0;
  }
  const envelope = await readAll(input, MAX_BLOCK_BYTES_LIMIT + MAX_ENVELOPE_OVERHEAD, 'a single-block envelope');
  const res = await withClient(values, (c, deadlineMs) =>
    c.decrypt(
      {
        tenant: required(values.tenant, 'tenant'),
        envelope,
        context: contextOption(values.context),
        purpose: purposeOption(values.purpose),
        requestId: values['request-id'] ?? '',
      },
      { deadlineMs },
    ),
  );
  await writeBlockResult(
    values,
    'plaintext',
    res.plaintext,
    { plaintextBytes: res.plaintext.length },
    { policyId: res.policyId, keyVersion: res.keyVersion },
  );
  return 0;
}
