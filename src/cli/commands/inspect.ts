import { MAX_BLOCK_BYTES_LIMIT } from '../../config/config.js';
import { MAX_ENVELOPE_OVERHEAD, parseEnvelope, TAG_LENGTH } from '../../crypto/envelope-format.js';
import {
  envelopeKind,
  FORMAT_PREFIX_LENGTH,
  MAX_SEGMENTED_HEADER_LENGTH,
  parseSegmentedHeader,
} from '../../crypto/segmented-format.js';
import { openInput, readAll, type Input } from '../content-io.js';
import { parse } from '../options.js';
import { print } from '../output.js';

/** What `inspect` prints: the cleartext header only (never the wrapped key, nonce or commitment). */
export interface EnvelopeSummary {
  kind: 'single-block' | 'segmented';
  formatVersion: number;
  tenant: string;
  policyId: string;
  keyVersion: number;
  envelopeBytes: number;
  /** Derived from the sizes; null when the envelope is cut short inside its last segment. */
  plaintextBytes: number | null;
  headerBytes: number;
  segmentBytes?: number;
  segments?: number | null;
  /** A segmented envelope whose length no complete stream can have: it was cut short. */
  truncated?: boolean;
}

/** The refusal of anything that does not start like an envelope (or whose header is malformed). */
export function notAnEnvelope(detail = ''): Error {
  return new Error(`not an unwrapd envelope${detail ? ` (${detail})` : ''}: check the input file`);
}

/**
 * `unwrapd inspect [--in FILE] [--json]`: an envelope's cleartext header, read locally (no daemon, no key),
 * with the parsers the daemon uses. Nothing is authenticated: the header says what the envelope claims.
 */
export async function inspect(args: string[]): Promise<number> {
  const { values } = parse(args, { in: { type: 'string' }, json: { type: 'boolean' } });
  const input = await openInput(values.in, MAX_SEGMENTED_HEADER_LENGTH);
  try {
    const summary = await summarize(input);
    print(values.json, summary, () => describe(summary));
    return 0;
  } finally {
    input.close();
  }
}

async function summarize(input: Input): Promise<EnvelopeSummary> {
  const kind = envelopeKind(input.head.subarray(0, FORMAT_PREFIX_LENGTH));
  if (kind === 'unknown') throw notAnEnvelope(input.head.length < FORMAT_PREFIX_LENGTH ? 'too short' : '');
  if (kind === 'block') {
    const bytes = await readAll(input, MAX_BLOCK_BYTES_LIMIT + MAX_ENVELOPE_OVERHEAD, 'a single-block envelope');
    let e;
    try {
      e = parseEnvelope(bytes);
    } catch {
      throw notAnEnvelope('malformed or truncated single-block envelope');
    }
    return {
      kind: 'single-block',
      formatVersion: bytes[2]!,
      tenant: e.tenant,
      policyId: e.policyId,
      keyVersion: e.keyVersion,
      envelopeBytes: bytes.length,
      plaintextBytes: e.ciphertext.length,
      headerBytes: e.fixedHeader.length + e.wrapSection.length,
    };
  }
  let h;
  try {
    h = parseSegmentedHeader(input.head);
  } catch {
    h = undefined;
  }
  if (!h) throw notAnEnvelope('malformed or truncated segmented header');
  const total = input.size ?? (await countBytes(input));
  const body = total - h.bytes.length;
  const full = h.segmentSize + TAG_LENGTH;
  const lastLength = body % full;
  // Non-final segments are exactly segmentSize + 16 bytes; the final one 16 .. segmentSize + 15.
  const truncated = body < TAG_LENGTH || lastLength < TAG_LENGTH;
  const segments = truncated ? null : Math.floor(body / full) + 1;
  return {
    kind: 'segmented',
    formatVersion: h.version,
    tenant: h.tenant,
    policyId: h.policyId,
    keyVersion: h.keyVersion,
    envelopeBytes: total,
    plaintextBytes: segments === null ? null : body - segments * TAG_LENGTH,
    headerBytes: h.bytes.length,
    segmentBytes: h.segmentSize,
    segments,
    truncated,
  };
}

async function countBytes(input: Input): Promise<number> {
  let n = 0;
  for await (const chunk of input.all()) n += chunk.length;
  return n;
}

function describe(s: EnvelopeSummary): string {
  const lines = [
    `${s.kind} envelope, format version ${s.formatVersion}`,
    `  tenant:         ${s.tenant}`,
    `  policy:         ${s.policyId}`,
    `  key version:    ${s.keyVersion}`,
    `  envelope bytes: ${s.envelopeBytes} (header ${s.headerBytes})`,
    `  content bytes:  ${s.plaintextBytes ?? 'unknown (truncated)'}`,
  ];
  if (s.kind === 'segmented')
    lines.push(
      `  segment bytes:  ${s.segmentBytes}`,
      `  segments:       ${s.segments ?? 'unknown'}${s.truncated ? ' (TRUNCATED: the last segment is incomplete)' : ''}`,
    );
  lines.push('(the header is not authenticated here: decrypt verifies it)');
  return lines.join('\n');
}
