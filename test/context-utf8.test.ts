import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { encodeContext } from '../src/crypto/encryption-context.js';
import { isUnwrapdError } from '../src/errors.js';
import { loadProto } from '../src/rpc/proto.js';
import { lenField, mapEntry, rawClient, rawUnary } from './helpers/proto-wire.js';
import { codeOf, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Context strings are exact: invalid UTF-8 on the wire is refused (protobufjs would turn it into U+FFFD, so an
// envelope sealed with one byte string would open with others), and so are unpaired surrogates in process.
let d: TestDaemon;
let raw: grpc.Client;
test.before(async () => {
  d = await startTestDaemon();
  raw = rawClient(d.daemon.address);
});
test.after.always(async () => {
  raw?.close();
  await d?.stop();
});

const decodeDecrypt = (bytes: Buffer) =>
  (
    loadProto().definition['unwrapd.v1.DecryptRequest'] as unknown as {
      deserialize(b: Buffer): { context: Record<string, string> };
    }
  ).deserialize(bytes);

/** Byte strings that are not UTF-8, each of which protobufjs decodes to some valid string (its U+FFFD form). */
const INVALID: [string, number[]][] = [
  ['a lone continuation byte', [0x61, 0x80]],
  ['0xff', [0xff]],
  ['an overlong NUL (C0 80)', [0xc0, 0x80]],
  ['an overlong slash (E0 80 AF)', [0xe0, 0x80, 0xaf]],
  ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
  ['a code point past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
  ['a truncated sequence (E2 82)', [0x61, 0xe2, 0x82]],
];

test('the old collision is refused: sealed with the bytes of U+FFFD, the envelope does not open with invalid bytes that decoded alike', async (t) => {
  for (const [what, bytes] of INVALID) {
    const b = Buffer.from(bytes);
    const decrypt = (envelope: Buffer, value: Buffer, keyBytes: Buffer = Buffer.from('object')) =>
      Buffer.concat([lenField(1, 'demo'), lenField(2, envelope), mapEntry(3, keyBytes, value)]);
    // What protobufjs makes of B: the string A an envelope used to be sealed with.
    const a = decodeDecrypt(decrypt(Buffer.from('x'), b)).context.object!;
    t.true(a.includes('\uFFFD'), what);
    const { envelope } = await d.client.encrypt({
      tenant: 'demo',
      policyId: 'demo-mailbox',
      plaintext: Buffer.from('secret'),
      context: { object: a },
    });
    // A's own bytes open it; B's are refused before decoding, as a value and as a key.
    const ok = await rawUnary(raw, '/unwrapd.v1.Crypto/Decrypt', decrypt(envelope, Buffer.from(a, 'utf8')));
    t.is(ok.code, grpc.status.OK, what);
    t.deepEqual(
      await rawUnary(raw, '/unwrapd.v1.Crypto/Decrypt', decrypt(envelope, b)),
      {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'Decrypt: malformed request: context value is not valid UTF-8',
      },
      what,
    );
    t.deepEqual(
      await rawUnary(raw, '/unwrapd.v1.Crypto/Decrypt', decrypt(envelope, Buffer.from('v'), b)),
      {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'Decrypt: malformed request: context key is not valid UTF-8',
      },
      what,
    );
    // Nor can anything be sealed with B.
    const seal = Buffer.concat([
      lenField(1, 'demo'),
      lenField(2, 'demo-mailbox'),
      lenField(3, 'secret'),
      mapEntry(4, 'object', b),
    ]);
    t.is((await rawUnary(raw, '/unwrapd.v1.Crypto/Encrypt', seal)).code, grpc.status.INVALID_ARGUMENT, what);
  }
});

test('valid UTF-8 of every length passes: 2-, 3- and 4-byte sequences, U+FFFD itself, U+10FFFF', async (t) => {
  const context = { ключ: 'значение', 键: '值 \uFFFD', emoji: '\u{1F600}\u{10FFFF}' };
  const { envelope } = await d.client.encrypt({
    tenant: 'demo',
    policyId: 'demo-mailbox',
    plaintext: Buffer.from('x'),
    context,
  });
  t.true((await d.client.decrypt({ tenant: 'demo', envelope, context })).plaintext.equals(Buffer.from('x')));
});

test('unpaired surrogates: the Node client refuses them before sending, naming the field; the encoder refuses them in process', async (t) => {
  for (const bad of ['a\uD800', '\uDC00b', 'x\uDBFF']) {
    t.deepEqual(
      await codeOf(
        d.client.encrypt({
          tenant: 'demo',
          policyId: 'demo-mailbox',
          plaintext: Buffer.from('x'),
          context: { object: bad },
        }),
      ),
      {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'context value is not well-formed Unicode (an unpaired surrogate), so it cannot be sent exactly',
      },
    );
    t.deepEqual(
      await codeOf(
        d.client.decryptBatch({
          tenant: 'demo',
          items: [{ envelope: Buffer.from('x') }, { envelope: Buffer.from('x'), context: { [bad]: 'v' } }],
        }),
      ),
      {
        code: grpc.status.INVALID_ARGUMENT,
        details:
          'items[1].context key is not well-formed Unicode (an unpaired surrogate), so it cannot be sent exactly',
      },
    );
    const e = t.throws(() =>
      d.client.encryptStream({ tenant: 'demo', policyId: 'demo-mailbox', context: { k: bad } }, []),
    );
    t.is((e as unknown as { code: number }).code, grpc.status.INVALID_ARGUMENT);
    t.true(
      isUnwrapdError(
        (() => {
          try {
            encodeContext({ object: bad });
          } catch (err) {
            return err;
          }
        })(),
        'invalid_argument',
      ),
    );
  }
  // A well-formed surrogate pair is one character, not a problem.
  await t.notThrowsAsync(
    d.client.encrypt({
      tenant: 'demo',
      policyId: 'demo-mailbox',
      plaintext: Buffer.from('x'),
      context: { object: '\uD83D\uDE00' },
    }),
  );
});
