// Pieces of docs/envelope-format.md written again with Node's Buffer alone, independently of src/crypto, for
// tests that check the code against the spec.

/** A 16-bit big-endian unsigned integer. */
export const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);

/**
 * The canonical encoding of an encryption context: the entry count, then each key and value as UTF-8 with a
 * 16-bit length before it, entries sorted by their key bytes.
 */
export function specContext(context: Record<string, string>): Buffer {
  const entries = Object.entries(context)
    .map(([k, val]) => [Buffer.from(k, 'utf8'), Buffer.from(val, 'utf8')] as const)
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  return Buffer.concat([
    u16(entries.length),
    ...entries.flatMap(([k, val]) => [u16(k.length), k, u16(val.length), val]),
  ]);
}

/** A 32-bit big-endian unsigned integer. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** §3.1's KEK info: "unwrapd/v1 kek" || u8 |tenant| || tenant || u8 |policy| || policy || u32be key version. */
export function specKekInfo(tenant: string, policyId: string, keyVersion: number): Buffer {
  const t = Buffer.from(tenant, 'ascii');
  const p = Buffer.from(policyId, 'ascii');
  return Buffer.concat([
    Buffer.from('unwrapd/v1 kek'),
    Buffer.from([t.length]),
    t,
    Buffer.from([p.length]),
    p,
    u32(keyVersion),
  ]);
}
