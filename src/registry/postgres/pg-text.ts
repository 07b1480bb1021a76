/**
 * The connection string without its password, for logs and GetStatus: postgres://user@host:port/db.
 * A keyword/value string (host=... password=...) is shown only by its host and database.
 */
export function describeConnection(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error('not a URL');
    const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
    const host = url.host || url.searchParams.get('host') || 'localhost';
    return `postgres://${user}${host}${url.pathname}`;
  } catch {
    const field = (name: string) => new RegExp(`(?:^|\\s)${name}\\s*=\\s*('([^']*)'|\\S+)`).exec(connectionString);
    const value = (m: RegExpExecArray | null) => (m ? (m[2] ?? m[1] ?? '') : '');
    return `postgres://${value(field('host')) || 'localhost'}/${value(field('dbname'))}`;
  }
}

/** A driver or server error as text safe to log: its message, which names no password or record content. */
export function pgMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.message} [${code}]` : err.message;
  }
  return String(err);
}
