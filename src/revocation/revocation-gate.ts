/**
 * Policies being revoked by this process right now. `Revoke` marks the policy here before its durable write
 * (which takes milliseconds: lock, fsync, rename, audit), so requests are refused from the moment the
 * revocation starts, not from when the registry catches up. Every request checks it (a Set lookup, skipped
 * while empty). The mark is cleared once the registry holds the revocation, or if the write fails (the
 * revocation was not acknowledged, and the operator retries).
 */
export class RevocationGate {
  readonly #revoking = new Set<string>();

  mark(tenant: string, policyId: string): void {
    this.#revoking.add(`${tenant}/${policyId}`);
  }

  unmark(tenant: string, policyId: string): void {
    this.#revoking.delete(`${tenant}/${policyId}`);
  }

  isRevoking(tenant: string, policyId: string): boolean {
    return this.#revoking.size > 0 && this.#revoking.has(`${tenant}/${policyId}`);
  }
}
