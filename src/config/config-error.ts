/** An invalid configuration: the message names the setting (and where its value came from), never a secret value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    /** The setting at fault (its Config key, or the config-file key), when one is. */
    readonly setting?: string,
  ) {
    super(message);
  }
}
