import { ChainCheck, type AuditRecord, type VerifyResult } from './audit-record.js';

/**
 * An export of a range of the trail (`unwrapd audit export --from N --to M`): the records as JSON lines, in
 * order, then one checkpoint line that anchors them: the first and last sequence, the count, the hash the
 * first record chains to (`prevHash`) and the last record's hash. Hash-anchored, not signed: the archive
 * proves itself consistent (every record's hash and link are checked against the checkpoint), and proves to
 * be the same records as the trail when its `lastHash` matches the trail (the next record's `prev`, or a
 * head hash anchored elsewhere at the time). Keep the checkpoint (or just its `lastHash`) somewhere the
 * archive's custodian cannot change.
 */
export interface ExportCheckpoint {
  firstSeq: number;
  lastSeq: number;
  count: number;
  prevHash: string;
  lastHash: string;
  exportedAt: string;
  source: string;
}

/** Writes `records` (a range, in order) through `write`, checking the chain as it goes; returns the checkpoint. */
export async function writeExport(
  records: AsyncIterable<AuditRecord>,
  write: (line: string) => Promise<void> | void,
  source: string,
  now: () => Date = () => new Date(),
): Promise<ExportCheckpoint> {
  let chain: ChainCheck | undefined;
  let first: AuditRecord | undefined;
  for await (const r of records) {
    if (!first) {
      first = r;
      chain = new ChainCheck({ seq: r.seq - 1, hash: r.prev });
    }
    const problem = chain!.check(r, `record ${r.seq}`);
    if (problem) throw new Error(`the trail is broken: ${problem}; run unwrapd audit verify`);
    await write(`${JSON.stringify(r)}\n`);
  }
  if (!first || !chain) throw new Error('no records in that range');
  const checkpoint: ExportCheckpoint = {
    firstSeq: first.seq,
    lastSeq: chain.last.count,
    count: chain.count,
    prevHash: first.prev,
    lastHash: chain.last.hash,
    exportedAt: now().toISOString(),
    source,
  };
  await write(`${JSON.stringify({ checkpoint })}\n`);
  return checkpoint;
}

/** Checks an export: every record, its chain from `prevHash`, and the checkpoint's count, last sequence and hash. */
export function verifyExport(text: string): VerifyResult & { checkpoint?: ExportCheckpoint } {
  const lines = text.split('\n').filter((l) => l.length > 0);
  let checkpoint: ExportCheckpoint | undefined;
  try {
    checkpoint = (JSON.parse(lines[lines.length - 1] ?? '{}') as { checkpoint?: ExportCheckpoint }).checkpoint;
  } catch {
    // reported below
  }
  if (!checkpoint) return { ok: false, records: 0, problem: 'the last line is not a checkpoint (the export was cut)' };
  const chain = new ChainCheck({ seq: checkpoint.firstSeq - 1, hash: checkpoint.prevHash });
  const problem = chain.checkLines(lines.slice(0, -1));
  if (problem) return { ok: false, records: chain.count, problem, checkpoint };
  const last = chain.last;
  if (chain.count !== checkpoint.count || last.count !== checkpoint.lastSeq || last.hash !== checkpoint.lastHash)
    return {
      ok: false,
      records: chain.count,
      problem: `the records do not match the checkpoint (${chain.count} records ending at ${last.count}; the checkpoint says ${checkpoint.count} ending at ${checkpoint.lastSeq})`,
      checkpoint,
    };
  return { ok: true, records: chain.count, head: last, firstSeq: checkpoint.firstSeq, checkpoint };
}
