import type * as protoLoader from '@grpc/proto-loader';
import { Kind, type FieldRule, type MessageRule } from './wire-scan.js';

/**
 * Compiles a request's scan rules (src/server/wire-scan.ts) from the proto descriptors proto-loader gives,
 * so a field added to a .proto is scanned without anyone remembering to list it here. What the descriptors
 * cannot say comes from the method's annotations: which bytes fields are a batch's payload, the cap of a
 * stream chunk, and oneof membership (proto-loader's descriptor objects show `oneofIndex: 0` for every
 * field, member or not, so it cannot be read from them).
 */
export interface ScanAnnotations {
  /** By dotted field path from the request ("chunk", "items.plaintext"). */
  fields?: Record<string, { maxBytes?: { bytes: number; name: string }; payload?: boolean }>;
  /** Groups of top-level field names of which at most one may be present (a oneof). */
  oneofs?: string[][];
}

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}

interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  options: { mapEntry?: boolean } | null;
}

const KINDS: Record<string, Kind> = {
  TYPE_STRING: Kind.String,
  TYPE_BYTES: Kind.Bytes,
  TYPE_MESSAGE: Kind.Message,
  TYPE_ENUM: Kind.Varint32,
  TYPE_BOOL: Kind.Varint32,
  TYPE_INT32: Kind.Varint32,
  TYPE_UINT32: Kind.Varint32,
  TYPE_SINT32: Kind.Varint32,
  TYPE_INT64: Kind.Varint64,
  TYPE_UINT64: Kind.Varint64,
  TYPE_SINT64: Kind.Varint64,
  TYPE_FIXED64: Kind.Fixed64,
  TYPE_SFIXED64: Kind.Fixed64,
  TYPE_DOUBLE: Kind.Fixed64,
  TYPE_FIXED32: Kind.Fixed32,
  TYPE_SFIXED32: Kind.Fixed32,
  TYPE_FLOAT: Kind.Fixed32,
};

/** The rule of `method`'s request message; throws (at start-up) if the descriptors or annotations do not fit. */
export function compileRequestRule(
  method: protoLoader.MethodDefinition<object, object>,
  definition: protoLoader.PackageDefinition,
  annotations: ScanAnnotations = {},
): MessageRule {
  const pkg = method.path.replace(/^\//, '').split('/')[0]!.split('.').slice(0, -1).join('.');
  const root = (method.requestType as unknown as { type: MessageDescriptor }).type;
  const used = new Set<string>();
  const resolve = (typeName: string, scope: MessageDescriptor): MessageDescriptor => {
    const nested = scope.nestedType.find((n) => n.name === typeName);
    if (nested) return nested;
    const name = typeName.startsWith('.')
      ? typeName.slice(1)
      : typeName.includes('.')
        ? typeName
        : `${pkg}.${typeName}`;
    const found = (definition[name] as { type?: MessageDescriptor } | undefined)?.type;
    if (!found) throw new Error(`wire scan: cannot resolve message type ${typeName} of ${method.path}`);
    return found;
  };
  const compile = (desc: MessageDescriptor, path: string, depth: number): MessageRule => {
    if (depth > 8) throw new Error(`wire scan: ${method.path} nests deeper than 8 messages`);
    const fields: (FieldRule | undefined)[] = [];
    for (const raw of desc.field) {
      // proto-loader camel-cases names (keepCase: false); messages name fields as the .proto does.
      const fd = { ...raw, name: raw.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) };
      const kind = KINDS[fd.type];
      if (kind === undefined) throw new Error(`wire scan: unsupported field type ${fd.type} in ${desc.name}`);
      const fieldPath = path ? `${path}.${fd.name}` : fd.name;
      const note = annotations.fields?.[fieldPath];
      if (note) used.add(fieldPath);
      const group = depth === 0 ? (annotations.oneofs ?? []).findIndex((g) => g.includes(fd.name)) + 1 : 0;
      let message: MessageRule | undefined;
      let map = false;
      if (kind === Kind.Message) {
        const nested = resolve(fd.typeName, desc);
        map = nested.options?.mapEntry === true;
        if (map && !nested.field.every((f) => f.type === 'TYPE_STRING' && (f.number === 1 || f.number === 2))) {
          throw new Error(`wire scan: only map<string, string> is supported (${desc.name}.${fd.name})`);
        }
        if (!map) message = compile(nested, fieldPath, depth + 1);
      }
      fields[fd.number] = {
        name: fd.name,
        kind,
        repeated: fd.label === 'LABEL_REPEATED',
        map,
        message,
        ...(note?.maxBytes ? { maxBytes: note.maxBytes } : {}),
        ...(note?.payload ? { payload: true } : {}),
        oneof: group,
      };
    }
    return { name: desc.name, fields };
  };
  const rule = compile(root, '', 0);
  for (const path of Object.keys(annotations.fields ?? {})) {
    if (!used.has(path)) throw new Error(`wire scan: ${method.path} has no field ${path}`);
  }
  for (const group of annotations.oneofs ?? []) {
    for (const name of group)
      if (!root.field.some((f) => f.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) === name))
        throw new Error(`wire scan: ${method.path} has no field ${name}`);
  }
  return rule;
}
