import { RestError, type PipelinePolicy } from '@azure/core-rest-pipeline';

/**
 * Two small policies added to every Azure SDK client's HTTP pipeline, so that the SDK's retries are
 * bounded in count, in per-try time and in total time:
 *
 * - `perTryTimeoutPolicy`: each try (one HTTP request and its response body) gets `ms`; a try that runs
 *   out fails with a RestError `ETIMEDOUT`, which the SDK's exponential strategy treats as a transient
 *   network error and retries (up to `maxRetries`). The SDK's own `timeout` request option throws an
 *   AbortError instead, which ends the operation without a retry.
 * - `retryAfterPolicy`: the SDK's throttling strategy waits as long as a 429/503's Retry-After says,
 *   without a cap, and its exponential strategy skips a 429 (so a 429 without Retry-After was never
 *   retried). This policy removes the retry-after headers when they ask for more than `maxRetryDelayMs`,
 *   so the SDK does not wait (a 429 then fails at once as `throttled`; a 503 falls back to the exponential
 *   delay, which `maxRetryDelayInMs` caps); and it gives a 429 that carries no Retry-After one of its own,
 *   `retry-after-ms` = exponential backoff from `retryDelayMs` (with jitter, capped at `maxRetryDelayMs`),
 *   so the throttling strategy retries it within `maxRetries`. We never come back sooner than the vault
 *   asked, and never wait longer than `maxRetryDelayMs` for it.
 *
 * Both sit in the `perRetry` position: after the SDK's retry policy, so they see every try.
 * The caller's deadline bounds the whole operation (every SDK call gets the AbortSignal).
 */
export function perTryTimeoutPolicy(ms: number): PipelinePolicy {
  return {
    name: 'unwrapdPerTryTimeout',
    async sendRequest(request, next) {
      const outer = request.abortSignal;
      const timer = AbortSignal.timeout(ms);
      request.abortSignal = outer ? AbortSignal.any([outer as AbortSignal, timer]) : timer;
      try {
        return await next(request);
      } catch (err) {
        if (timer.aborted && !outer?.aborted)
          throw new RestError(`no response within ${ms} ms`, { code: 'ETIMEDOUT', request });
        throw err;
      } finally {
        request.abortSignal = outer;
      }
    },
  };
}

export const RETRY_AFTER_HEADERS: readonly string[] = ['retry-after-ms', 'x-ms-retry-after-ms', 'retry-after'];

export function retryAfterPolicy(o: { retryDelayMs: number; maxRetryDelayMs: number }): PipelinePolicy {
  const tries = new WeakMap<object, number>();
  return {
    name: 'unwrapdRetryAfter',
    async sendRequest(request, next) {
      const attempt = (tries.get(request) ?? 0) + 1;
      tries.set(request, attempt);
      const response = await next(request);
      if (response.status !== 429 && response.status !== 503) return response;
      const asked = retryAfterMs(response.headers.get.bind(response.headers));
      if (asked !== undefined && asked > o.maxRetryDelayMs)
        for (const h of RETRY_AFTER_HEADERS) response.headers.delete(h);
      else if (asked === undefined && response.status === 429)
        response.headers.set('retry-after-ms', String(backoffDelayMs(attempt, o.retryDelayMs, o.maxRetryDelayMs)));
      return response;
    },
  };
}

/** The delay before retrying after try `attempt` (1-based): `base` doubled each try, capped at `max`, half of it jittered (as the SDK's). */
export function backoffDelayMs(attempt: number, base: number, max: number): number {
  const capped = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(capped / 2 + Math.random() * (capped / 2));
}

/** What the retry-after headers ask for, in ms (the same headers, in the same order, as the SDK reads them). */
export function retryAfterMs(get: (name: string) => string | undefined): number | undefined {
  for (const h of RETRY_AFTER_HEADERS) {
    const raw = get(h);
    if (raw === undefined) continue;
    const n = Number(raw);
    if (Number.isFinite(n)) return h === 'retry-after' ? n * 1000 : n;
    if (h === 'retry-after') {
      const at = Date.parse(raw);
      if (Number.isFinite(at)) return Math.max(0, at - Date.now());
    }
  }
  return undefined;
}
