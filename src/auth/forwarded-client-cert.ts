/**
 * The `x-forwarded-client-cert` header (XFCC) as Envoy, Istio and other meshes write it: a comma-separated list
 * of elements, one per proxy hop, the nearest hop last; each element a semicolon-separated list of `Key=value`
 * pairs (keys By, Hash, Cert, Chain, Subject, URI, DNS; case-insensitive); a value holding `,` `;` `=` or `"` is
 * double-quoted, with `\"` for a quote inside. For example:
 *
 *   By=spiffe://cluster.local/ns/keys/sa/unwrapd;Hash=2f6e...;Subject="CN=store,O=Mail";URI=spiffe://cluster.local/ns/mail/sa/store
 *
 * The parser is strict and bounded: a header longer than MAX_XFCC_LENGTH, more than MAX_XFCC_ELEMENTS elements or
 * MAX_XFCC_PAIRS pairs in one element, an empty element, a key that is not letters, an unterminated quote or a
 * stray character all make it return undefined (malformed); it never throws.
 */
export const MAX_XFCC_LENGTH = 8 * 1024;
export const MAX_XFCC_ELEMENTS = 16;
export const MAX_XFCC_PAIRS = 32;

/** One hop: every key (lower-cased) with its values in order (URI and DNS may repeat). */
export type XfccElement = ReadonlyMap<string, readonly string[]>;

export function parseForwardedClientCert(header: string): XfccElement[] | undefined {
  if (header.length === 0 || header.length > MAX_XFCC_LENGTH || CONTROL.test(header)) return undefined;
  const elements: XfccElement[] = [];
  let element = new Map<string, string[]>();
  let pairs = 0;
  let i = 0;
  const n = header.length;
  for (;;) {
    // key
    const keyStart = i;
    while (i < n && isKeyChar(header.charCodeAt(i))) i++;
    if (i === keyStart || header[i] !== '=') return undefined;
    const key = header.slice(keyStart, i).toLowerCase();
    i++;
    // value
    let value: string;
    if (header[i] === '"') {
      const end = closingQuote(header, i + 1);
      if (end < 0) return undefined;
      const raw = header.slice(i + 1, end);
      value = raw.includes('\\') ? raw.replace(/\\(.)/gs, '$1') : raw;
      i = end + 1;
    } else {
      const valueStart = i;
      while (i < n) {
        const c = header.charCodeAt(i);
        if (c === SEMI || c === COMMA) break;
        if (c === QUOTE || c === EQUALS || c === BACKSLASH) return undefined;
        i++;
      }
      value = header.slice(valueStart, i);
    }
    if (++pairs > MAX_XFCC_PAIRS) return undefined;
    const list = element.get(key);
    if (list) list.push(value);
    else element.set(key, [value]);
    // separator
    if (i >= n) break;
    if (header[i] === ';') {
      i++;
      continue;
    }
    if (header[i] !== ',') return undefined;
    i++;
    // Several header lines joined by ", " (HTTP list syntax) leave blanks after the comma.
    while (i < n && header[i] === ' ') i++;
    elements.push(element);
    if (elements.length >= MAX_XFCC_ELEMENTS) return undefined;
    element = new Map();
    pairs = 0;
  }
  elements.push(element);
  return elements;
}

/**
 * The identity one element names, in the order a certificate's would be read: its first URI (a SPIFFE id), else
 * its first DNS name, else the common name of its Subject. Undefined when it names none (By and Hash alone).
 */
export function elementIdentity(element: XfccElement): string | undefined {
  const uri = element.get('uri')?.find((v) => v.length > 0);
  if (uri) return uri;
  const dns = element.get('dns')?.find((v) => v.length > 0);
  if (dns) return dns;
  const subject = element.get('subject')?.[0];
  return subject ? subjectCommonName(subject) : undefined;
}

/**
 * The CN of a distinguished name as Envoy writes Subject: RFC 2253 (`CN=store,OU=Mail,O=Example`, most specific
 * first, `\,` escapes) or, in older versions, OpenSSL's slash form (`/O=Example/OU=Mail/CN=store`, most specific
 * last). The most specific CN wins.
 */
export function subjectCommonName(dn: string): string | undefined {
  const slash = dn.startsWith('/');
  const parts = splitUnescaped(slash ? dn.slice(1) : dn, slash ? '/' : ',');
  const cns = parts
    .map((p) => p.trim())
    .filter((p) => /^cn=/i.test(p))
    .map((p) => unescapeDn(p.slice(3)));
  const cn = slash ? cns[cns.length - 1] : cns[0];
  return cn && cn.length > 0 ? cn : undefined;
}

function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === sep) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function unescapeDn(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const SEMI = 0x3b;
const COMMA = 0x2c;
const QUOTE = 0x22;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/** Index of the quote closing a value that starts at `from`, skipping `\x` escapes; -1 when there is none. */
function closingQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) {
      if (i + 1 >= s.length) return -1;
      i++;
    } else if (c === QUOTE) return i;
  }
  return -1;
}

function isKeyChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
