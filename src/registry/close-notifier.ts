/**
 * "Tell me when you close": listeners registered before close() run once, at close; one registered after
 * runs at once. Event logs hand it to watchers (WatchEvents) so their streams end when the daemon stops.
 */
export class CloseNotifier {
  readonly #listeners = new Set<() => void>();
  #closed = false;

  onClose(listener: () => void): () => void {
    if (this.#closed) {
      listener();
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs every listener once; false when it had already closed. */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    for (const l of [...this.#listeners]) l();
    this.#listeners.clear();
    return true;
  }
}
