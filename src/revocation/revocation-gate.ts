/**
 * Policies being revoked (or purged) by this process right now. `Revoke` marks the policy here before its
 * durable write (which takes milliseconds: lock, fsync, rename, audit), so requests are refused from the moment
 * the revocation starts, not from when the registry catches up. Every request checks it (a Map lookup, skipped
 * while empty); a running roll, refresh or rotation checks it before each of its writes and stops. Marks are
 * counted (concurrent Revokes of one policy each mark and unmark once). A mark is cleared once the registry
 * holds the revocation, or if the write fails (the revocation was not acknowledged, and the operator retries).
 * Listeners (src/core/key-lease.ts) hear every mark, synchronously: open streams of the policy end at once.
 */
export class RevocationGate {
  readonly #revoking = new Map<string, number>();
  readonly #listeners: Array<(tenant: string, policyId: string) => void> = [];

  mark(tenant: string, policyId: string): void {
    const key = `${tenant}/${policyId}`;
    this.#revoking.set(key, (this.#revoking.get(key) ?? 0) + 1);
    for (const listener of this.#listeners) listener(tenant, policyId);
  }

  unmark(tenant: string, policyId: string): void {
    const key = `${tenant}/${policyId}`;
    const n = (this.#revoking.get(key) ?? 0) - 1;
    if (n > 0) this.#revoking.set(key, n);
    else this.#revoking.delete(key);
  }

  isRevoking(tenant: string, policyId: string): boolean {
    return this.#revoking.size > 0 && this.#revoking.has(`${tenant}/${policyId}`);
  }

  /** Called synchronously on every mark, after the policy is marked. */
  onMark(listener: (tenant: string, policyId: string) => void): void {
    this.#listeners.push(listener);
  }
}
