/**
 * How the protos' messages become JavaScript objects, for the daemon (src/rpc/proto.ts, through proto-loader)
 * and the client (src/rpc/client-services.ts, from the generated descriptors) alike. They must match the flags
 * of scripts/gen-proto.mjs, which types the messages and generates the descriptors. No import at run time: the
 * client loads this without proto-loader.
 */

/** Field names in camelCase (`policyId`), as the generated types have them. */
export const KEEP_CASE = false;

/** protobufjs conversion options: 64-bit integers and enums as strings, defaults set, oneof names set. */
export const CONVERSION_OPTIONS = { longs: String, enums: String, defaults: true, oneofs: true } as const;
