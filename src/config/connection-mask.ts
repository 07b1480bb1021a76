const MASK = '****';
/** One `keyword = value` pair of a libpq keyword/value connection string; a value quoted or bare. */
const KEYWORD_VALUE = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)+)\s*/y;

/**
 * A PostgreSQL connection string as `config check` shows it: every password masked, fail closed.
 *
 * URL form (`postgres://` or `postgresql://`): the user-info password and every query parameter whose name contains
 * `password` (`password`, `sslpassword`, any case) become `****`. Keyword/value form: every keyword containing
 * `password` gets the value `****`. A value that is neither a URL the URL parser accepts (a multi-host list, a bad
 * port) nor well-formed keyword/value text is shown as `****` entirely.
 */
export function maskConnectionString(value: string): string {
  if (value === '') return '';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value) && !/^\s*\w+\s*=/.test(value)) return maskUrl(value);
  return maskKeywordValue(value);
}

function maskUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return MASK;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return MASK;
  if (url.password) url.password = MASK;
  url.hash = '';
  for (const name of new Set(url.searchParams.keys())) {
    if (isPasswordName(name)) url.searchParams.set(name, MASK);
  }
  return url.toString();
}

function maskKeywordValue(value: string): string {
  const parts: string[] = [];
  KEYWORD_VALUE.lastIndex = 0;
  while (KEYWORD_VALUE.lastIndex < value.length) {
    const m = KEYWORD_VALUE.exec(value);
    if (!m) return MASK;
    parts.push(`${m[1]}=${isPasswordName(m[1]!) ? MASK : m[2]}`);
  }
  return parts.join(' ');
}

function isPasswordName(name: string): boolean {
  return name.toLowerCase().includes('password');
}
