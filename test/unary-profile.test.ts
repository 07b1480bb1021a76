import test from 'ava';
import { profileLines, profileShares, type CpuProfile } from '../bench/lib/unary-profile.js';

// The bench's per-call breakdown (bench/README.md) rests on this attribution: a wrong one would put the crypto's
// time on grpc-js, or one scenario's samples on another.

const SRC = 'file:///repo/src';
const frame = (functionName: string, url = '') => ({ functionName, url });

/** A profile: root -> idle, gc, and three stacks per scenario; samples laid out in time as `timeline` says. */
function profile(timeline: [node: number, us: number][]): CpuProfile {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 10, 20, 30] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('(garbage collector)') },
      // echo: its decode, and grpc-js sending
      { id: 10, callFrame: frame('emit', 'node:events'), children: [11, 12] },
      { id: 11, callFrame: frame('EchoMessage$decode') },
      { id: 12, callFrame: frame('sendMessage', 'file:///x/node_modules/@grpc/grpc-js/build/src/server.js') },
      // encrypt: the handler, under it sealBlock and its node:crypto frames; grpc-js responding from the handler
      { id: 20, callFrame: frame('(anon)', `${SRC}/server/unary.ts`), children: [21, 24] },
      { id: 21, callFrame: frame('seal', `${SRC}/core/crypto-service.ts`), children: [22] },
      { id: 22, callFrame: frame('sealBlock', `${SRC}/crypto/envelope.ts`), children: [23] },
      { id: 23, callFrame: frame('update', 'node:internal/crypto/cipher') },
      {
        id: 24,
        callFrame: frame('respond', 'file:///x/node_modules/@grpc/grpc-js/build/src/server.js'),
        children: [25],
      },
      { id: 25, callFrame: frame('(anon)', `${SRC}/server/request-limits.ts`) },
      // decrypt
      { id: 30, callFrame: frame('openBlock', `${SRC}/crypto/envelope.ts`) },
    ],
    samples: timeline.map(([n]) => n),
    timeDeltas: timeline.map(([, us]) => us),
  };
}

const run = (nodes: number[], us = 100_000): [number, number][] => nodes.map((n) => [n, us]);

test('profileShares: samples go to the scenario running then, and to the first category up their stack', (t) => {
  // 0-1 s echo, 1-2 s encrypt, 2-3 s decrypt (100 ms samples); idle counts for nothing.
  const p = profile([
    ...run([11, 12, 11, 12, 3, 11, 12, 11, 12, 2]),
    ...run([23, 23, 21, 24, 25, 3, 23, 23, 20, 2]),
    ...run([30, 30, 12, 12, 3, 30, 30, 12, 12, 2]),
  ]);
  const shares = profileShares(p);
  t.deepEqual([...shares.keys()], ['echo', 'encrypt', 'decrypt']);
  // Shares in ninths: nine busy samples per scenario.
  const of = (s: string) => Object.fromEntries(shares.get(s)!.map((x) => [x.category, Math.round(x.share * 9)]));
  t.deepEqual(of('echo'), {
    'request decode (wire scan + protobufjs)': 4,
    'grpc-js, HTTP/2, event loop (the rest)': 4,
    'garbage collector': 1,
  });
  // sealBlock's node:crypto frames are crypto; grpc-js responding from inside the handler is grpc-js's; an
  // interceptor frame under it is the interceptor's; the core frame alone and the wrapper alone are theirs.
  t.deepEqual(of('encrypt'), {
    'crypto: sealBlock / parse + openBlock': 4,
    'core call frames (encrypt/decrypt, results)': 1,
    'grpc-js, HTTP/2, event loop (the rest)': 1,
    'request-limits interceptor': 1,
    'garbage collector': 1,
    'unary wrapper, call signal, request context': 1,
  });
  t.deepEqual(of('decrypt'), {
    'crypto: sealBlock / parse + openBlock': 4,
    'grpc-js, HTTP/2, event loop (the rest)': 4,
    'garbage collector': 1,
  });
});

test('profileLines: µs per call only for the scenarios whose server CPU is known', (t) => {
  const shares = new Map([
    ['encrypt', [{ category: 'crypto', share: 0.25 }]],
    ['echo', [{ category: 'rest', share: 1 }]],
  ]);
  const lines = profileLines(shares, new Map([['encrypt', 200]]));
  t.deepEqual(lines, [
    'server CPU of encrypt by where it went (200.0 µs/op):',
    '   25.0 %     50.0 µs  crypto',
    'server CPU of echo by where it went:',
    '  100.0 %  rest',
  ]);
});
