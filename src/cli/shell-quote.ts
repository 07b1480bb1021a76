/**
 * A value as one word of a POSIX shell command line, for lines printed to be pasted: as is when it has only
 * characters no shell treats specially, otherwise in single quotes (a `'` inside written as `'\''`).
 */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
