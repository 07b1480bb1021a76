import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openLocalKeystore, type KeyInfo } from '../../providers/local-keystore.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { parse } from '../options.js';
import { print } from '../output.js';
import { keysCheck } from './keys-check.js';

const KEY_OPTIONS = {
  keystore: { type: 'string' },
  'data-dir': { type: 'string' },
  version: { type: 'string' },
  bits: { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean' },
} as const;

/**
 * `unwrapd keys create|list|rotate|disable|enable|delete NAME`: manages the local keystore directly (the
 * daemon notices changes on its next unwrap), so revocation can be exercised without a cloud vault.
 */
export async function keys(args: string[]): Promise<number> {
  const { env, stderr } = cliIo();
  const [sub, ...rest] = args;
  if (sub === 'check') return keysCheck(rest); // any provider's key: src/cli/commands/keys-check.ts
  const { values, positionals } = parse(rest, KEY_OPTIONS, 1);
  // Absolute from here on, and printed: a relative path is taken from the working directory, and a keystore
  // the daemon does not read is a silent mistake.
  const path = resolve(
    values.keystore ??
      env.UNWRAPD_KEYSTORE ??
      join(values['data-dir'] ?? env.UNWRAPD_DATA_DIR ?? '.unwrapd', 'keystore.json'),
  );
  if (sub === 'delete' && !values.yes)
    throw new UsageError(
      `keys delete is irreversible: it destroys the private key of local:${positionals[0] ?? 'NAME'} (every version), and content only it protects can never be decrypted again. Add --yes to confirm`,
    );
  const keystore = await openLocalKeystore(path);
  const name = () => {
    const n = positionals[0];
    if (!n) throw new UsageError(`keys ${sub} NAME`);
    return n;
  };
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && (!Number.isInteger(version) || version < 1))
    throw new UsageError('--version must be a positive integer');
  switch (sub) {
    case 'create': {
      const bits = values.bits === undefined ? 3072 : Number(values.bits);
      if (bits !== 3072 && bits !== 4096) throw new UsageError('--bits must be 3072 or 4096');
      const isNew = !existsSync(path);
      const info = await keystore.createKey(name(), { bits });
      print(values.json, { ...info, keystore: path }, () => `created local:${name()}/1 in ${path}`);
      if (isNew)
        stderr.write(
          `unwrapd: note: ${path} did not exist and is a new keystore; a daemon reads only its own (its banner prints it): to use that one, give --data-dir DIR or --keystore FILE, or run from the daemon's directory\n`,
        );
      return 0;
    }
    case 'rotate': {
      const info = await keystore.rotateKey(name());
      print(values.json, info, () => `added a new version of local:${name()}`);
      return 0;
    }
    case 'disable':
    case 'enable':
      await keystore.setEnabled(name(), sub === 'enable', version);
      print(
        values.json,
        { name: name(), enabled: sub === 'enable', version },
        () => `${sub}d local:${name()}${version ? `/${version}` : ''}`,
      );
      return 0;
    case 'delete':
      await keystore.deleteKey(name());
      print(
        values.json,
        { name: name(), deleted: true },
        () => `deleted local:${name()} (its private key material is gone)`,
      );
      return 0;
    case 'list': {
      const list = await keystore.list();
      if (!values.json) stderr.write(`keystore: ${path}\n`);
      print(values.json, list, () =>
        list.length > 0
          ? keyTable(list)
          : existsSync(path)
            ? `no keys in ${path}`
            : `no keystore at ${path}: a daemon's is in its data directory (its banner prints it): give --data-dir DIR or --keystore FILE`,
      );
      return 0;
    }
    default:
      throw new UsageError('keys create|list|rotate|disable|enable|delete NAME, or keys check URI');
  }
}

/** `keys list` without --json: one row a key, with a header. */
function keyTable(list: readonly KeyInfo[]): string {
  const rows = list.map((k) => [
    `local:${k.name}`,
    k.deleted ? 'deleted' : k.enabled ? 'enabled' : 'disabled',
    String(k.latestVersion),
    k.versions.map((v) => `${v.version}:${v.state}`).join(' '),
    k.created,
  ]);
  const header = ['KEY', 'STATE', 'LATEST', 'VERSIONS', 'CREATED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
