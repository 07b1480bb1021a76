import { ConfigError, CONFIG_FLAGS, resolveSettings } from '../../config/config.js';
import { unknownEnvVars } from '../../config/env-scan.js';
import { effectiveSettings, renderEffective } from '../../config/render.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { parse, type OptionSpec } from '../options.js';
import { print } from '../output.js';

export const CONFIG_CHECK_USAGE = 'config check [--config FILE] [--json] [any serve flag]';

const CHECK_OPTIONS: OptionSpec = {
  ...Object.fromEntries(CONFIG_FLAGS.map((f) => [f, { type: 'string' }])),
  json: { type: 'boolean' },
};

/**
 * `unwrapd config check`: resolves the configuration as `unwrapd serve` would (flags, environment, config
 * file, defaults), validates it and prints each setting's effective value (secrets masked) and where it
 * came from, and the `UNWRAPD_*` variables unwrapd does not read. Exit 0 when valid; 2, with the error
 * naming the setting, when not.
 */
export async function config(args: string[], env: NodeJS.ProcessEnv = cliIo().env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'check') throw new UsageError(CONFIG_CHECK_USAGE);
  const { values, positionals } = parse(rest, CHECK_OPTIONS);
  if (positionals.length) throw new UsageError(CONFIG_CHECK_USAGE);
  const json = values.json as boolean | undefined;
  const flags = Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'string')) as Record<
    string,
    string
  >;
  const unknownEnv = unknownEnvVars(env);
  let resolved;
  try {
    resolved = resolveSettings({ flags, env });
  } catch (err) {
    if (!json || !(err instanceof ConfigError)) throw err;
    print(true, { valid: false, error: err.message, setting: err.setting ?? null, unknownEnv }, () => '');
    return 2;
  }
  const r = resolved;
  print(json, { valid: true, file: r.file ?? null, settings: effectiveSettings(r), unknownEnv }, () =>
    renderEffective(r, unknownEnv),
  );
  return 0;
}
