/**
 * Waits until `condition` holds, checking on every timer turn (10 ms), and fails with `what` after a bound
 * generous enough for a saturated machine. For the few things a test cannot be told about directly; an
 * event or a promise is better where the code offers one.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
