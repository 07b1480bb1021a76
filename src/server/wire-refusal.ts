/** A limit a request exceeded: its name (as docs/api.md names it) and its value. */
export interface ExceededLimit {
  name: string;
  value: number;
}

/**
 * A request refused by the wire scan (src/server/wire-scan.ts) or its method's size limits
 * (src/server/request-limits.ts): the status it gets, a message naming the limit or the problem, and for an
 * exceeded limit the limit itself (the status details carry its name and value).
 */
export class WireRefusal {
  constructor(
    readonly code: 'resource_exhausted' | 'invalid_argument',
    readonly message: string,
    readonly limit?: ExceededLimit,
  ) {}
}

/** Thrown inside the scan only (no stack trace is captured: it is not an Error). */
export class Problem {
  constructor(
    readonly code: 'resource_exhausted' | 'invalid_argument',
    readonly message: string,
    readonly limit?: ExceededLimit,
  ) {}
}

export const malformed = (what: string) => new Problem('invalid_argument', `malformed request: ${what}`);
export const exhausted = (what: string, limit: ExceededLimit) => new Problem('resource_exhausted', what, limit);
