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

export interface RevocationSourceState {
  state: 'connected' | 'disconnected' | 'deaf' | 'none';
  lastSequence: number;
  lastEventAt?: string;
}

export interface RevocationSource {
  readonly name: string;
  start(onRevoked: (event: RevocationEvent) => void): Promise<void>;
  /** Connection state for GetStatus and health; never throws. */
  state(): RevocationSourceState;
  /**
   * For a source that can go deaf (the fleet feed): called with true when it has been cut off past its
   * grace period (the daemon turns the key cache off: fail closed), and with false once it is back and
   * caught up.
   */
  onDeafChange?(listener: (deaf: boolean) => void): () => void;
  /**
   * For a source the instance must hear to serve (the fleet feed): why the instance must refuse every
   * request now (deaf, lease lost or about to run out), or undefined. Synchronous and cheap: checked right
   * before every key use (src/revocation/serving-fence.ts).
   */
  fenced?(): string | undefined;
  stop(): Promise<void>;
}
