/**
 * Settles as soon as `signal` aborts (rejecting with `abortError()`), even if `work` hangs: a provider call
 * never keeps its caller past the deadline. `work`'s own outcome is then ignored, except that a value
 * arriving late is handed to `onLate` (to zeroize it).
 */
export function raceAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  abortError: () => Error,
  onLate?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      settled = true;
      reject(abortError());
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (settled) onLate?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!settled) reject(err);
      },
    );
  });
}
