import { cliIo } from './cli-io.js';

const MiB = 1024 * 1024;

/** Where the meter writes (stderr) and the clock it reads (milliseconds); tests pass their own. */
export interface ProgressIo {
  write(text: string): unknown;
  now(): number;
}

/** The command line's stderr (cli-io.ts), read when the meter starts. */
function stderrIo(): ProgressIo {
  const { stderr } = cliIo();
  return { write: (text) => stderr.write(text), now: () => performance.now() };
}

/**
 * A one-line progress meter on stderr for a streamed encrypt or decrypt, only when stderr is a terminal (and
 * not --quiet): at most 5 updates a second while it runs, then one summary line when it completes (bytes,
 * time, MiB/s); on failure the line is cleared and the error alone is printed.
 */
export class Progress {
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #enabled: boolean;
  readonly #io: ProgressIo;
  readonly #started: number;
  #last: number | undefined;
  #shown = false;

  constructor(label: string, total: number | undefined, enabled = cliIo().stderr.isTTY === true, io = stderrIo()) {
    this.#label = label;
    this.#total = total;
    this.#enabled = enabled;
    this.#io = io;
    this.#started = io.now();
  }

  update(done: number): void {
    if (!this.#enabled) return;
    const now = this.#io.now();
    if (this.#last !== undefined && now - this.#last < 200) return;
    this.#last = now;
    const total = this.#total;
    const of = total
      ? ` / ${(total / MiB).toFixed(1)} MiB (${Math.min(100, Math.floor((done / total) * 100))} %)`
      : ' MiB';
    this.#io.write(
      `\r${this.#label}: ${(done / MiB).toFixed(1)}${total ? ' MiB' : ''}${of}, ${rate(done, now - this.#started)} MiB/s   `,
    );
    this.#shown = true;
  }

  /** Completed: `done` bytes read. Replaces the meter with the summary line. */
  finish(done: number): void {
    if (!this.#enabled) return;
    const ms = this.#io.now() - this.#started;
    this.end();
    this.#io.write(
      `${this.#label}: ${done} bytes (${(done / MiB).toFixed(1)} MiB) in ${(ms / 1000).toFixed(1)} s, ${rate(done, ms)} MiB/s\n`,
    );
  }

  /** Clears the line (nothing to clear after `finish`). */
  end(): void {
    if (this.#shown) this.#io.write('\r\x1b[2K');
    this.#shown = false;
  }
}

function rate(bytes: number, ms: number): string {
  return (bytes / MiB / Math.max(ms / 1000, 0.001)).toFixed(1);
}
