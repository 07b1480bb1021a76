import pg from 'pg';

/**
 * The change feed's dedicated connection: opened with timeouts fit for a busy machine, LISTENing on the
 * event and acknowledgement channels; dropped without waiting on it (it may be black-holed).
 */
export interface FeedConnectionOptions {
  clientConfig: pg.ClientConfig;
  applicationName: string;
  graceMs: number;
  channels: { events: string; acks: string };
  onLost(client: pg.Client, err: unknown): void;
  onNotification(client: pg.Client, n: pg.Notification): void;
}

/** Connects and LISTENs; on failure the connection is dropped and the error thrown. */
export async function openFeedConnection(opts: FeedConnectionOptions): Promise<pg.Client> {
  // Generous: a slow answer on a busy machine is not a lost connection (replacing it costs more); safety
  // does not depend on these timeouts (the lease deadline and the deaf timer run from send times).
  const queryTimeout = Math.max(500, Math.min(opts.graceMs, 10_000));
  const client = new pg.Client({
    ...opts.clientConfig,
    application_name: opts.applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1_000,
    query_timeout: queryTimeout,
    connectionTimeoutMillis: Math.max(2_000, Math.min(2 * opts.graceMs, 10_000)),
  });
  client.on('error', (err) => opts.onLost(client, err));
  client.on('end', () => opts.onLost(client, new Error('connection closed')));
  client.on('notification', (n) => opts.onNotification(client, n));
  try {
    await client.connect();
    await client.query(`LISTEN "${opts.channels.events}"`);
    await client.query(`LISTEN "${opts.channels.acks}"`);
  } catch (err) {
    void dropConnection(client);
    throw err;
  }
  return client;
}

const dropped = new WeakSet<pg.Client>();

/**
 * Drops a connection once: its listeners go (a late error is swallowed), then it is ended, its socket
 * destroyed if the end does not complete within a second. Resolves when it has ended.
 */
export async function dropConnection(client: pg.Client): Promise<void> {
  if (dropped.has(client)) return;
  dropped.add(client);
  for (const event of ['notification', 'end', 'error'] as const) client.removeAllListeners(event);
  client.on('error', () => {});
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  const ended = client.end().catch(() => {});
  const timer = setTimeout(() => stream?.destroy(), 1_000);
  timer.unref();
  await ended;
  clearTimeout(timer);
}
