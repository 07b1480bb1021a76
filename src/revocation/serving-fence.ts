import { UnwrapdError } from '../errors.js';

/** What the fence asks of a source: its name, and why the instance must refuse now (undefined: it may serve). */
export interface FencingSource {
  readonly name: string;
  fenced(): string | undefined;
}

export const FEED_LOST_MESSAGE = 'revocation feed lost';

/**
 * Fail closed when deaf: an instance that cannot confirm it has every revocation (its fleet feed lost past
 * the grace period, or its lease not renewed in time) refuses every request with UNAVAILABLE
 * "revocation feed lost" until the feed is back and caught up. `check()` is called synchronously right
 * before every key use (the same place as the policy state check), so no request that starts after the
 * fence, or that waited on an unwrap across it, uses a key. With no source it costs nothing.
 */
export class ServingFence {
  readonly #sources: FencingSource[] = [];

  add(source: FencingSource): void {
    this.#sources.push(source);
  }

  /** Why the instance refuses now, or undefined. */
  reason(): string | undefined {
    for (const s of this.#sources) {
      const why = s.fenced();
      if (why !== undefined) return `${s.name}: ${why}`;
    }
    return undefined;
  }

  /** Throws UNAVAILABLE "revocation feed lost" while fenced. */
  check(): void {
    if (this.#sources.length === 0) return;
    const why = this.reason();
    if (why !== undefined)
      throw new UnwrapdError(
        'unavailable',
        `${FEED_LOST_MESSAGE} (${why}): refusing until it is back and caught up; retry on another instance`,
        { reason: 'REVOCATION_FEED_LOST' },
      );
  }
}
