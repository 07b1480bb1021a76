import { openBlock, sealBlock, type ParsedEnvelope } from '../crypto/envelope.js';
import { MAX_ENVELOPE_OVERHEAD } from '../crypto/envelope-format.js';
import type { EncryptionContext } from '../crypto/encryption-context.js';
import { invalidArgument, limitExceeded } from '../errors.js';
import type { CryptoService } from './crypto-service.js';
import type { CallerRequest, KeyLeases } from './key-lease.js';

export interface BatchLimits {
  /** Most items in one EncryptBatch or DecryptBatch call. */
  maxItems: number;
  /**
   * Most plaintext bytes in one EncryptBatch (sum over items). DecryptBatch allows the same plus the largest
   * envelope overhead per item, so whatever one EncryptBatch produced decrypts in one DecryptBatch.
   */
  maxBytes: number;
}

/** One item's outcome: its value, or the error that failed it alone (mapped to a status by the edge). */
export type ItemResult<T> = { ok: T } | { error: unknown };

export interface BatchItem {
  context: EncryptionContext;
}

export interface EncryptBatchInput extends Omit<CallerRequest, 'context'> {
  policyId: string;
  items: readonly (BatchItem & { plaintext: Uint8Array })[];
}

export interface DecryptBatchInput extends Omit<CallerRequest, 'context'> {
  items: readonly (BatchItem & { envelope: Uint8Array })[];
}

export interface EncryptedItem {
  envelope: Buffer;
  keyVersion: number;
}

export interface DecryptedItem {
  plaintext: Buffer;
  policyId: string;
  keyVersion: number;
}

/**
 * Many small items (mail) in one call, each with its own context, result and error. Request-level problems
 * (limits, an unknown or revoked policy for EncryptBatch, an unavailable provider, the deadline) fail the
 * call; item-level ones (a malformed or tampered envelope, a bad context, an oversized item, for DecryptBatch
 * a revoked policy of that item) fail only that item.
 *
 * Fast because the key work is shared: all items of one (policy, version) use one key lease, taken once per
 * call, and the policy state is checked once, synchronously, right before that group's items are sealed or
 * opened in one synchronous run (src/core/key-lease.ts: no revocation can interleave). A revocation while a
 * group waits for its key ends the wait at once with FAILED_PRECONDITION.
 */
export class BatchService {
  readonly #crypto: CryptoService;
  readonly #leases: KeyLeases;
  readonly limits: BatchLimits;

  constructor(crypto: CryptoService, limits: BatchLimits) {
    this.#crypto = crypto;
    this.#leases = crypto.leases;
    this.limits = limits;
  }

  async encrypt(input: EncryptBatchInput): Promise<ItemResult<EncryptedItem>[]> {
    let bytes = 0;
    for (const item of input.items) bytes += item.plaintext.length;
    this.#checkLimits('EncryptBatch', input.items.length, bytes, this.limits.maxBytes, 'plaintext', 'batchMaxBytes');
    if (input.items.length === 0) return [];
    const { tenant, policyId } = input;
    const policy = this.#leases.writable(tenant, policyId);
    const version = policy.activeVersion;
    const ref = { tenant, policyId, keyVersion: version };
    const suite = this.#crypto.writeSuite;
    // Synchronous from the state check to the last item: no eviction or revocation interleaves.
    return this.#leases.withKey(
      ref,
      'write',
      input,
      (kek) => {
        return input.items.map((item): ItemResult<EncryptedItem> => {
          try {
            this.#crypto.checkBlockSize(item.plaintext.length);
            return {
              ok: {
                envelope: sealBlock({ ref, kek, plaintext: item.plaintext, context: item.context, suite }),
                keyVersion: version,
              },
            };
          } catch (error) {
            return { error };
          }
        });
      },
      undefined,
    );
  }

  async decrypt(input: DecryptBatchInput): Promise<ItemResult<DecryptedItem>[]> {
    let bytes = 0;
    for (const item of input.items) bytes += item.envelope.length;
    const maxBytes = this.limits.maxBytes + input.items.length * MAX_ENVELOPE_OVERHEAD;
    this.#checkLimits(
      'DecryptBatch',
      input.items.length,
      bytes,
      maxBytes,
      'envelope',
      `batchMaxBytes ${this.limits.maxBytes} + ${MAX_ENVELOPE_OVERHEAD} per item`,
    );
    const results: ItemResult<DecryptedItem>[] = new Array(input.items.length);
    // Parse every item, then group by (policy, version): one lease per group.
    const groups = new Map<string, { ref: ParsedEnvelope; members: { index: number; parsed: ParsedEnvelope }[] }>();
    input.items.forEach((item, index) => {
      try {
        if (item.envelope.length === 0) throw invalidArgument('envelope is required');
        const parsed = this.#crypto.parse(input.tenant, item.envelope);
        const key = `${parsed.policyId}\u0000${parsed.keyVersion}`;
        let group = groups.get(key);
        if (!group) groups.set(key, (group = { ref: parsed, members: [] }));
        group.members.push({ index, parsed });
      } catch (error) {
        results[index] = { error };
      }
    });
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const fail = (error: unknown) => {
          for (const m of group.members) results[m.index] = { error };
        };
        try {
          await this.#leases.withKey(
            group.ref,
            'read',
            input,
            (kek) => {
              for (const m of group.members) {
                try {
                  const plaintext = openBlock(m.parsed, kek, input.items[m.index]!.context);
                  results[m.index] = {
                    ok: { plaintext, policyId: m.parsed.policyId, keyVersion: m.parsed.keyVersion },
                  };
                } catch (error) {
                  results[m.index] = { error };
                }
              }
            },
            undefined,
          );
        } catch (error) {
          if (input.signal.aborted) throw input.signal.reason; // the call's deadline or cancellation fails the call
          fail(error);
        }
      }),
    );
    return results;
  }

  /**
   * The same limits, and messages, as the wire scan applies before a gRPC request is decoded
   * (src/server/request-limits.ts); here for in-process callers.
   */
  #checkLimits(method: string, count: number, bytes: number, maxBytes: number, what: string, explain: string): void {
    if (count > this.limits.maxItems) {
      throw limitExceeded(
        `${method}: ${count} items exceed batchMaxItems (${this.limits.maxItems})`,
        'batchMaxItems',
        this.limits.maxItems,
      );
    }
    if (bytes > maxBytes) {
      throw limitExceeded(
        `${method}: ${bytes} ${what} bytes exceed ${maxBytes} (${explain})`,
        'batchMaxBytes',
        maxBytes,
      );
    }
  }
}
