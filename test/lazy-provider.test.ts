import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { SecretKey } from '../src/crypto/secret-key.js';
import { lazyProvider } from '../src/providers/lazy-provider.js';
import type { RootKeyProvider } from '../src/providers/root-key-provider.js';
import { FakeProvider } from './helpers/fakes.js';

const opts = () => ({ signal: new AbortController().signal });

/** A fake provider that refuses calls once closed, and counts how often it was made. */
function loader(): { load: () => Promise<RootKeyProvider>; made: FakeProvider[] } {
  const made: FakeProvider[] = [];
  class Closable extends FakeProvider {
    closed = false;
    override async close(): Promise<void> {
      this.closed = true;
    }
    override async resolve(keyUri: string) {
      if (this.closed) throw new Error('closed');
      return super.resolve(keyUri);
    }
  }
  return {
    made,
    load: async () => {
      const p = new Closable();
      made.push(p);
      return p;
    },
  };
}

test('the provider is loaded on its first call, once, and every call is forwarded to it', async (t) => {
  const { load, made } = loader();
  const lazy = lazyProvider(['fake'], load, false);
  t.deepEqual(lazy.schemes, ['fake']);
  t.is(made.length, 0, 'nothing loaded before a call');
  const key = SecretKey.copyFrom(Buffer.alloc(32, 7));
  const [a, b] = await Promise.all([lazy.wrap('fake:k', key, opts()), lazy.resolve('fake:k', opts())]);
  t.is(b.uri, 'fake:k');
  const back = await lazy.unwrap(a, opts());
  t.true(Buffer.from(back.expose()).equals(Buffer.alloc(32, 7)));
  t.deepEqual(await lazy.status('fake:k', opts()), { uri: 'fake:k', usable: true });
  t.is(made.length, 1, 'loaded once for concurrent and later calls');
  t.deepEqual(made[0]!.unwraps, ['fake:k']);
  t.is(lazy.createKey, undefined, 'no key administration unless asked');
  await lazy.close();
  await t.throwsAsync(lazy.resolve('fake:k', opts()), { message: 'closed' });
});

test('closed before any call: nothing is loaded; a call after close gets the closed provider', async (t) => {
  const { load, made } = loader();
  const lazy = lazyProvider(['fake'], load, false);
  await lazy.close();
  t.is(made.length, 0);
  await t.throwsAsync(lazy.resolve('fake:k', opts()), { message: 'closed' });
});

test('with admin: createKey and destroyKey are forwarded, and refused when the loaded provider has none', async (t) => {
  const created: string[] = [];
  const admin = Object.assign(new FakeProvider(), {
    createKey: async (baseUri: string, nameHint: string) => {
      created.push(`${baseUri}/${nameHint}`);
      return { uri: `${baseUri}/${nameHint}`, algorithm: 'FAKE' };
    },
  });
  const lazy = lazyProvider(['fake'], async () => admin, true);
  t.deepEqual(await lazy.createKey!('fake:vault', 'p1', opts()), { uri: 'fake:vault/p1', algorithm: 'FAKE' });
  t.deepEqual(created, ['fake:vault/p1']);
  await t.throwsAsync(lazy.destroyKey!('fake:vault/p1', opts()), { message: 'the fake provider cannot destroy keys' });
});

test('importing the daemon loads no Azure SDK, no pg and no OpenTelemetry SDK or exporter', async (t) => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const hook = `export async function resolve(s, c, next) { const r = await next(s, c);
    const m = r.url.match(/node_modules\\/((@[^/]+\\/)?[^/]+)/); if (m) process.stderr.write('PKG ' + m[1] + '\\n');
    return r; }`;
  const script = `import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    await import('./src/daemon/daemon.ts');`;
  const { stderr } = await promisify(execFile)(
    process.execPath,
    ['--import=tsx', '--input-type=module', '-e', script],
    { cwd: root },
  );
  const loaded = new Set([...stderr.matchAll(/^PKG (.+)$/gm)].map((m) => m[1]!));
  t.true(loaded.has('@grpc/grpc-js'), 'the hook sees the packages loaded');
  const heavy = [...loaded].filter((p) => /^@azure\/|^@typespec\/|^pg$|^@opentelemetry\/(?!api$)/.test(p));
  t.deepEqual(heavy, []);
});
