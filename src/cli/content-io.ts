import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { UsageError } from './cli-error.js';
import { cliIo } from './cli-io.js';

/**
 * Input and output of the CLI's encrypt and decrypt, for blocks and streams alike: the input is read only as
 * far as needed to choose (a block or a stream), then streamed on; output goes to a file (written to a
 * temporary name and renamed when complete, removed on failure) or to stdout, with backpressure (progress on
 * stderr: progress.ts).
 */

export interface Input {
  /** The bytes read so far (at least `n` unless the input is shorter). */
  head: Buffer;
  /** The whole input has been read (it is `head`). */
  complete: boolean;
  /** Size in bytes when known (a regular file). */
  size: number | undefined;
  /** All of the input, `head` first, read on demand. Call once. */
  all(): AsyncGenerator<Buffer>;
  /** Stops reading (closes a file). */
  close(): void;
}

/** Opens `path` (or stdin for none or `-`) and reads at least `n` bytes, or everything if shorter. */
export async function openInput(path: string | undefined, n: number): Promise<Input> {
  let readable: Readable;
  let size: number | undefined;
  if (path && path !== '-') {
    const s = await stat(path);
    if (s.isFile()) size = s.size;
    readable = createReadStream(path);
  } else {
    const { stdin } = cliIo();
    if (stdin.isTTY) throw new UsageError('give --in FILE, or pipe the input on stdin');
    readable = stdin;
  }
  const it = readable[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let have = 0;
  let complete = false;
  while (have < n) {
    const step = await it.next();
    if (step.done) {
      complete = true;
      break;
    }
    chunks.push(step.value);
    have += step.value.length;
  }
  const head = Buffer.concat(chunks);
  return {
    head,
    complete,
    size,
    async *all() {
      if (head.length > 0) yield head;
      if (complete) return;
      for (;;) {
        const step = await it.next();
        if (step.done) return;
        yield step.value;
      }
    },
    close() {
      readable.destroy();
    },
  };
}

/** Reads the rest of an input into memory, refusing more than `max` bytes. */
export async function readAll(input: Input, max: number, what: string): Promise<Buffer> {
  if (input.complete) return input.head;
  const chunks: Buffer[] = [];
  let have = 0;
  for await (const chunk of input.all()) {
    have += chunk.length;
    if (have > max) {
      input.close();
      throw new UsageError(`${what} is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Writes `source` to `path` (or stdout), waiting for the destination to drain. A file is written to a
 * temporary name beside it (mode 0600) and renamed once `source` has ended without an error; on any error
 * the temporary file is removed, so a failed decryption never leaves partial plaintext under the output name.
 * On stdout, bytes already written cannot be taken back: the exit code says whether they are complete.
 */
export async function writeStreamed(
  path: string | undefined,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  onChunk?: () => void,
): Promise<number> {
  let written = 0;
  if (!path || path === '-') {
    const { stdout } = cliIo();
    for await (const chunk of source) {
      if (!stdout.write(chunk)) await once(stdout, 'drain');
      written += chunk.length;
      onChunk?.();
    }
    return written;
  }
  const tmp = join(dirname(path), `.${basename(path)}.partial-${process.pid}`);
  const out = createWriteStream(tmp, { mode: 0o600 });
  // An error (the temporary file cannot be created, the disk is full) may come while the source is awaited:
  // kept here, and thrown at the next chunk or at the end, never an uncaught 'error' event.
  let failed: Error | undefined;
  out.on('error', (err) => (failed ??= err));
  try {
    for await (const chunk of source) {
      if (failed) throw failed;
      if (!out.write(chunk)) await once(out, 'drain'); // rejects on an 'error' meanwhile
      written += chunk.length;
      onChunk?.();
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (failed) throw failed;
    await rename(tmp, path);
    return written;
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
