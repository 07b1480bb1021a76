import { MAX_BLOCK_BYTES_LIMIT } from '../../config/config.js';
import { MAX_ENVELOPE_OVERHEAD } from '../../crypto/envelope-format.js';
import {
  envelopeKind,
  FORMAT_PREFIX_LENGTH,
  MAX_SEGMENTED_HEADER_LENGTH,
  parseSegmentedHeader,
  type SegmentedHeader,
} from '../../crypto/segmented-format.js';
import { UsageError } from '../cli-error.js';
import { openInput, readAll, type Input } from '../content-io.js';
import { contextOption, parse, required } from '../options.js';
import { CRYPTO_OPTIONS, purposeOption, toFile } from './crypto-options.js';
import { printSummary, streamedOutput, writeBlockResult } from './crypto-output.js';
import { notAnEnvelope } from './inspect.js';
import { withClient } from './policy.js';

type RewrapValues = ReturnType<typeof parse<typeof CRYPTO_OPTIONS>>['values'];

/**
 * `unwrapd rewrap`: an envelope in, the same content under another policy (or the newest key version) out.
 * A single-block envelope is sent whole (Rewrap). A segmented one is rewrapped by its header alone: only
 * the header is sent, and the output is the new header followed by the input's segments, streamed through
 * unchanged (they stay valid: docs/lifecycle.md), so an envelope of any size needs memory for one chunk.
 */
export async function rewrap(args: string[]): Promise<number> {
  const { values } = parse(args, CRYPTO_OPTIONS);
  const input = await openInput(values.in, MAX_SEGMENTED_HEADER_LENGTH);
  const kind = envelopeKind(input.head.subarray(0, FORMAT_PREFIX_LENGTH));
  if (kind === 'unknown') {
    input.close();
    throw notAnEnvelope(); // before reading the rest or sending anything
  }
  if (kind === 'segmented') return rewrapSegmented(values, input);
  const envelope = await readAll(input, MAX_BLOCK_BYTES_LIMIT + MAX_ENVELOPE_OVERHEAD, 'a single-block envelope');
  const res = await withClient(values, (c, deadlineMs) => c.rewrap(request(values, envelope), { deadlineMs }));
  await writeBlockResult(
    values,
    'envelope',
    res.envelope,
    { envelopeBytes: res.envelope.length },
    { policyId: res.policyId, keyVersion: res.keyVersion },
  );
  return 0;
}

async function rewrapSegmented(values: RewrapValues, input: Input): Promise<number> {
  try {
    if (values.json && !toFile(values.out)) throw new UsageError('--json with a segmented envelope needs --out FILE');
    let header: SegmentedHeader | undefined;
    try {
      header = parseSegmentedHeader(input.head);
    } catch {
      header = undefined;
    }
    if (!header) throw notAnEnvelope('malformed or truncated segmented header');
    const oldHeader = header.bytes;
    const res = await withClient(values, (c, deadlineMs) => c.rewrap(request(values, oldHeader), { deadlineMs }));
    checkRewrappedHeader(header, res.envelope, res.replacedHeaderBytes);
    const write = streamedOutput('rewrap', values, input.size);
    const read = { bytes: 0 };
    const written = await write(spliced(res.envelope, input, oldHeader.length, read), () => read.bytes);
    printSummary(values, true, {
      envelopeBytes: written,
      replacedHeaderBytes: res.replacedHeaderBytes,
      headerBytes: res.envelope.length,
      policyId: res.policyId,
      keyVersion: res.keyVersion,
    });
    return 0;
  } finally {
    input.close();
  }
}

/**
 * Before the stored segments are spliced behind it: the daemon's answer must be one segmented header that
 * replaces exactly the header sent and keeps its fixed part (version, tenant, segment size, nonce base,
 * commitment), which the segments' AAD and keys are bound to; only the wrap section may change. Anything else
 * would write a file that cannot be decrypted, so nothing is written.
 */
export function checkRewrappedHeader(old: SegmentedHeader, returned: Buffer, replacedHeaderBytes: number): void {
  const refuse = (what: string) => new Error(`the daemon ${what}: output not written`);
  if (replacedHeaderBytes !== old.bytes.length)
    throw refuse(`replaced ${replacedHeaderBytes} header bytes where ${old.bytes.length} were sent`);
  let header: SegmentedHeader | undefined;
  try {
    header = parseSegmentedHeader(returned);
  } catch {
    header = undefined;
  }
  if (!header || header.bytes.length !== returned.length)
    throw refuse(`returned ${returned.length} bytes that are not one segmented header`);
  if (header.tenant !== old.tenant) throw refuse('returned a header of another tenant');
  if (header.segmentSize !== old.segmentSize) throw refuse('returned a header of another segment size');
  if (!header.nonce.equals(old.nonce)) throw refuse('returned a header of another nonce base');
  if (!header.fixedHeader.equals(old.fixedHeader)) throw refuse('returned a header whose fixed part changed');
}

/** The new header, then the input from byte `skip` on (its segments, as stored); counts the bytes read. */
async function* spliced(header: Buffer, input: Input, skip: number, read: { bytes: number }): AsyncGenerator<Buffer> {
  yield header;
  let toSkip = skip;
  for await (const chunk of input.all()) {
    read.bytes += chunk.length;
    if (toSkip >= chunk.length) {
      toSkip -= chunk.length;
      continue;
    }
    yield toSkip > 0 ? chunk.subarray(toSkip) : chunk;
    toSkip = 0;
  }
}

function request(values: RewrapValues, envelope: Buffer) {
  return {
    tenant: required(values.tenant, 'tenant'),
    envelope,
    context: contextOption(values.context),
    targetPolicyId: values['target-policy'] ?? '',
    purpose: purposeOption(values.purpose),
    requestId: values['request-id'] ?? '',
  };
}
