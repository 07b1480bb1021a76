/**
 * Latency samples in nanoseconds, kept in a preallocated Float64Array that doubles when full, so that
 * recording a sample in the measured loop allocates nothing in the common case.
 */
export class LatencyRecorder {
  #samples: Float64Array;
  #count = 0;

  constructor(expected = 1 << 16) {
    this.#samples = new Float64Array(Math.max(16, expected));
  }

  record(ns: number): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = ns;
  }

  get count(): number {
    return this.#count;
  }

  /** A view of the recorded samples (valid until the next record()). */
  samples(): Float64Array {
    return this.#samples.subarray(0, this.#count);
  }
}
