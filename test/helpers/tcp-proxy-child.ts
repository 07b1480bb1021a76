/**
 * The child side of tcp-proxy-process.ts: runs a TcpProxy (tcp-proxy.ts) in its own process and obeys
 * `{ id, op }` messages (cut, blackhole, restore, close) from the parent, answering `{ id }` when done.
 * Exits when the parent goes away.
 */
import { startTcpProxy } from './tcp-proxy.js';

const [host, port] = process.argv.slice(2);
const proxy = await startTcpProxy(host!, Number(port));
process.send!({ port: proxy.port });
process.on('message', (m: { id: number; op: 'cut' | 'blackhole' | 'restore' | 'close' }) => {
  void (async () => {
    if (m.op === 'close') await proxy.close();
    else proxy[m.op]();
    process.send!({ id: m.id });
    if (m.op === 'close') process.exit(0);
  })();
});
process.on('disconnect', () => process.exit(0));
