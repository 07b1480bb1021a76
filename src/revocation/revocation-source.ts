/**
 * A source of revocation events: an operator's Revoke, the registry's change feed, the provider saying
 * `revoked` on an unwrap, refresh or probe. Each source calls `onRevoked`; the key cache evicts and
 * zeroizes every key of the policy before the listener returns.
 */
export interface RevocationEvent {
  tenant: string;
  policyId: string;
  reason: string;
  source: string;
}

export interface RevocationSource {
  readonly name: string;
  start(onRevoked: (event: RevocationEvent) => void): Promise<void>;
  /** Connection state for GetStatus and health; never throws. */
  state(): { state: 'connected' | 'disconnected' | 'deaf' | 'none'; lastSequence: number; lastEventAt?: string };
  stop(): Promise<void>;
}
