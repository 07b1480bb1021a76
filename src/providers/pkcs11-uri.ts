/**
 * PKCS#11 key URIs, a subset of RFC 7512: `pkcs11:token=<token label>;object=<key label>[;id=<CKA_ID>]`.
 * Values are percent-encoded where needed (`id` is usually written as `%01%02...`). `token` may be left
 * out when the provider is configured with a default token. `type=private` is accepted and ignored (the
 * provider always uses the private key to unwrap). Attributes in the query part (`?pin-value=...`) are
 * refused: the PIN comes from configuration, never from a URI stored in a policy.
 *
 * A key without `id` is "the one private RSA key with this label"; `resolve` pins it by adding its id.
 */
export const PKCS11_SCHEME = 'pkcs11';

export interface Pkcs11KeyRef {
  token?: string;
  object: string;
  id?: Buffer;
}

const KNOWN = new Set(['token', 'object', 'id', 'type']);

export function parsePkcs11Uri(uri: string): Pkcs11KeyRef | undefined {
  if (!uri.startsWith(`${PKCS11_SCHEME}:`) || uri.includes('?') || uri.includes('#') || uri.length > 1024)
    return undefined;
  const attrs = new Map<string, string | Buffer>();
  for (const part of uri.slice(PKCS11_SCHEME.length + 1).split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const name = part.slice(0, eq);
    if (!KNOWN.has(name) || attrs.has(name)) return undefined;
    const raw = pctDecode(part.slice(eq + 1));
    if (!raw) return undefined;
    attrs.set(name, name === 'id' ? raw : raw.toString('utf8'));
  }
  const object = attrs.get('object');
  const token = attrs.get('token');
  const id = attrs.get('id');
  const type = attrs.get('type');
  if (typeof object !== 'string' || object === '') return undefined;
  if (type !== undefined && type !== 'private') return undefined;
  const ref: Pkcs11KeyRef = { object };
  if (typeof token === 'string' && token !== '') ref.token = token;
  if (Buffer.isBuffer(id) && id.length > 0) ref.id = id;
  return ref;
}

export function formatPkcs11Uri(ref: Pkcs11KeyRef): string {
  const parts: string[] = [];
  if (ref.token !== undefined) parts.push(`token=${pctEncode(Buffer.from(ref.token, 'utf8'))}`);
  parts.push(`object=${pctEncode(Buffer.from(ref.object, 'utf8'))}`);
  if (ref.id !== undefined) parts.push(`id=${[...ref.id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`);
  return `${PKCS11_SCHEME}:${parts.join(';')}`;
}

const UNRESERVED = /[A-Za-z0-9\-._~:[\]@!$'()*+,=&]/;

function pctEncode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(c) && c !== ';' && c !== '=' ? c : `%${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function pctDecode(text: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes);
}
