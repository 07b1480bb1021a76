import test from 'ava';
import { checkRewrappedHeader } from '../src/cli/commands/rewrap.js';
import {
  layoutSegmentedHeader,
  parseSegmentedHeader,
  replaceWrapSection,
  SEGMENTED_VERSION_1,
  SEGMENTED_VERSION_2,
  type SegmentedVersion,
} from '../src/crypto/segmented-format.js';

// `unwrapd rewrap` of a segmented envelope splices the stored segments behind the daemon's new header
// (src/cli/commands/rewrap.ts): only a header that keeps the old fixed part, and replaces exactly the header
// sent, is used.

const nonce = Buffer.alloc(12, 5);
const wrapped = Buffer.alloc(40, 9);
const ref = { tenant: 'demo', policyId: 'demo-mailbox', keyVersion: 1 };
const target = { tenant: 'demo', policyId: 'archive-with-a-longer-id', keyVersion: 3 };

function header(version: SegmentedVersion, over: { tenant?: string; nonce?: Buffer; segmentSize?: number } = {}) {
  const bytes = layoutSegmentedHeader(
    version,
    { ...ref, tenant: over.tenant ?? ref.tenant },
    over.nonce ?? nonce,
    over.segmentSize ?? 65536,
    wrapped,
  );
  return parseSegmentedHeader(bytes)!;
}

for (const version of [SEGMENTED_VERSION_1, SEGMENTED_VERSION_2] as SegmentedVersion[]) {
  test(`v${version}: a header with only its wrap section changed is used; any other change is refused`, (t) => {
    const old = header(version);
    const moved = replaceWrapSection(old, target, Buffer.alloc(40, 1));
    t.notThrows(() => checkRewrappedHeader(old, moved, old.bytes.length));

    const refused = (returned: Buffer, replaced: number, message: RegExp) =>
      t.throws(() => checkRewrappedHeader(old, returned, replaced), { message });
    refused(
      moved,
      old.bytes.length + 1,
      /^the daemon replaced \d+ header bytes where \d+ were sent: output not written$/,
    );
    refused(Buffer.concat([moved, Buffer.alloc(16)]), old.bytes.length, /not one segmented header/);
    refused(moved.subarray(0, moved.length - 1), old.bytes.length, /not one segmented header/);
    refused(Buffer.from('not a header'), old.bytes.length, /not one segmented header/);
    const { tenant: _t, ...rest } = target;
    refused(
      replaceWrapSection(header(version, { tenant: 'other' }), { tenant: 'other', ...rest }, wrapped),
      old.bytes.length,
      /another tenant: output not written$/,
    );
    refused(
      replaceWrapSection(header(version, { segmentSize: 4096 }), target, wrapped),
      old.bytes.length,
      /another segment size/,
    );
    refused(
      replaceWrapSection(header(version, { nonce: Buffer.alloc(12, 6) }), target, wrapped),
      old.bytes.length,
      /another nonce base/,
    );
    const commitment = Buffer.from(moved);
    commitment[old.fixedHeader.length - (version === SEGMENTED_VERSION_1 ? 5 : 1)]! ^= 1; // the commitment's last byte
    refused(commitment, old.bytes.length, /fixed part changed/);
  });
}
