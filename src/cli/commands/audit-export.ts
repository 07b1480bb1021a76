import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AuditRecord } from '../../audit/audit-record.js';
import { writeExport, verifyExport } from '../../audit/audit-export.js';
import { readFileRecords } from '../../audit/file-trail-reader.js';
import { allAuditRows, recordOfRow } from '../../audit/postgres-audit-sql.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { parse } from '../options.js';
import { print } from '../output.js';
import { trailSource, withTrailDatabase } from './audit-source.js';

/**
 * `unwrapd audit export --from N --to M [--out FILE] [--file F | --pg-url URL [--pg-schema S]]`: the records
 * N..M as JSON lines and a hash-anchored checkpoint (src/audit/audit-export.ts), read straight from the trail.
 */
export async function auditExport(args: string[]): Promise<number> {
  const { values } = parse(args, {
    from: { type: 'string' },
    to: { type: 'string' },
    out: { type: 'string' },
    file: { type: 'string' },
    'data-dir': { type: 'string' },
    'pg-url': { type: 'string' },
    'pg-schema': { type: 'string' },
    json: { type: 'boolean' },
  });
  const from = seqOption(values.from ?? '1', '--from');
  const to = seqOption(values.to ?? String(Number.MAX_SAFE_INTEGER), '--to');
  if (to < from) throw new UsageError('--to must not be below --from');
  const source = trailSource(values);
  const { stdout, stderr } = cliIo();
  const out = values.out ? createWriteStream(values.out, { flags: 'wx', mode: 0o600 }) : undefined;
  const write = (line: string) =>
    out
      ? new Promise<void>((resolve, reject) => out.write(line, (err) => (err ? reject(err) : resolve())))
      : void stdout.write(line);
  try {
    const checkpoint =
      source.kind === 'file'
        ? await writeExport(fileRange(source.path, from, to), write, source.where)
        : await withTrailDatabase(source, (pool, q) =>
            writeExport(pgRange(allAuditRows(pool, q, from, to)), write, source.where),
          );
    if (out)
      stderr.write(
        `exported ${checkpoint.count} records (${checkpoint.firstSeq}..${checkpoint.lastSeq}), last hash ${checkpoint.lastHash}\n`,
      );
  } finally {
    if (out) await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  return 0;
}

/** `unwrapd audit verify --export FILE`: checks an export against its checkpoint. */
export async function verifyExportFile(path: string, json: boolean | undefined): Promise<number> {
  const result = verifyExport(await readFile(path, 'utf8'));
  print(json, { path, ...result }, () =>
    result.ok
      ? `ok: ${result.records} records (${result.checkpoint!.firstSeq}..${result.checkpoint!.lastSeq}), chain and checkpoint intact, last hash ${result.checkpoint!.lastHash} (${path})`
      : `BROKEN: ${result.problem} (${path})`,
  );
  return result.ok ? 0 : 1;
}

function seqOption(value: string, flag: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1)
    throw new UsageError(`${flag} must be a sequence number (1 or more)`);
  return Number(value);
}

async function* fileRange(path: string, from: number, to: number): AsyncGenerator<AuditRecord> {
  for (let next = from; next <= to;) {
    const page = await readFileRecords(path, { fromSeq: next }, 10_000);
    for (const r of page) {
      if (r.seq > to) return;
      yield r;
    }
    if (page.length < 10_000) return;
    next = page[page.length - 1]!.seq + 1;
  }
}

async function* pgRange(rows: ReturnType<typeof allAuditRows>): AsyncGenerator<AuditRecord> {
  for await (const row of rows) {
    const { record, problem } = recordOfRow(row);
    if (!record || problem) throw new Error(`row seq ${row.seq}: ${problem}; run unwrapd audit verify`);
    yield record;
  }
}
