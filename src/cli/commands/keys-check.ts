import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { CONFIG_FLAGS, loadConfig } from '../../config/config.js';
import { SecretKey } from '../../crypto/secret-key.js';
import { createBuiltInProviders } from '../../daemon/build-providers.js';
import { errorText } from '../../errors.js';
import { isProviderError } from '../../providers/provider-error.js';
import { createProviderRouter } from '../../providers/provider-router.js';
import type { RootKeyProvider, WrappedKey } from '../../providers/root-key-provider.js';
import { UsageError } from '../cli-error.js';
import { cliIo } from '../cli-io.js';
import { deadline, parse, type OptionSpec } from '../options.js';
import { print } from '../output.js';

/**
 * `unwrapd keys check URI`: can unwrapd use this root key, and if not, why? It builds the same providers
 * the daemon would from the same configuration (flags, environment, config file), then:
 * resolve (pin the version) -> status -> wrap a random 32-byte value -> unwrap it -> compare (constant
 * time). It stops at the first failing step and prints the classified reason and what usually fixes it.
 * No key bytes are printed, and the test value is zeroized. Exit code 0 when usable, 1 when not.
 */
export type CheckStepName = 'resolve' | 'status' | 'wrap' | 'unwrap' | 'compare';

export interface CheckStep {
  step: CheckStepName;
  ok: boolean;
  ms: number;
  detail?: string;
  kind?: string;
  reason?: string;
}

export interface KeyCheckReport {
  uri: string;
  usable: boolean;
  pinnedUri?: string;
  algorithm?: string;
  steps: CheckStep[];
  /** What usually fixes the failure (absent when usable). */
  hint?: string;
}

const HINTS: Record<string, string> = {
  access_denied:
    'the key holder refused this identity: grant it the key permissions get, wrapKey and unwrapKey (Key Vault access policy) or the "Key Vault Crypto Service Encryption User" role (RBAC), and check the vault firewall; for PKCS#11, check the PIN',
  key_disabled: 'the key or this version is disabled, expired, not yet valid, or does not permit wrapKey and unwrapKey',
  key_not_found:
    'no such key or version: check the URI (Key Vault ids must be on a *.vault.azure.net-style host; PKCS#11 URIs need an existing label and token)',
  key_deleted: 'the key is deleted: the vault owner can recover it while it is soft-deleted',
  unwrap_rejected: 'the key refused the test copy: the algorithm is not supported by this key or token',
  timeout: 'no answer in time: the vault or token is unreachable or slow (network, DNS, proxy, firewall); try again',
  aborted: 'the check was cancelled',
  throttled: 'the vault is throttling requests: try again later',
  server_error:
    'the key holder failed (5xx, device error, or a module that cannot be loaded): try again, check its health',
  connection_error: 'cannot connect (network, DNS, TLS, token absent): check connectivity and the URI host',
  unknown: 'an unclassified failure: see the detail',
};

export async function checkKey(provider: RootKeyProvider, uri: string, timeoutMs: number): Promise<KeyCheckReport> {
  const report: KeyCheckReport = { uri, usable: false, steps: [] };
  const signal = () => ({ signal: AbortSignal.timeout(timeoutMs) });
  const step = async <T>(
    name: CheckStepName,
    run: () => Promise<T>,
    describe: (v: T) => string,
  ): Promise<T | undefined> => {
    const started = performance.now();
    try {
      const value = await run();
      report.steps.push({ step: name, ok: true, ms: Math.round(performance.now() - started), detail: describe(value) });
      return value;
    } catch (err) {
      const s: CheckStep = { step: name, ok: false, ms: Math.round(performance.now() - started) };
      if (isProviderError(err)) Object.assign(s, { kind: err.kind, reason: err.reason, detail: err.message });
      else s.detail = errorText(err);
      report.steps.push(s);
      report.hint = HINTS[s.reason ?? 'unknown'];
      return undefined;
    }
  };

  const resolved = await step(
    'resolve',
    () => provider.resolve(uri, signal()),
    (r) => `${r.uri} (${r.algorithm})`,
  );
  if (!resolved) {
    const unserved = unservedSchemeHint(provider, uri);
    if (unserved) report.hint = unserved;
    return report;
  }
  report.pinnedUri = resolved.uri;
  report.algorithm = resolved.algorithm;
  const status = await step(
    'status',
    () => provider.status(resolved.uri, signal()),
    (st) => (st.usable ? 'usable' : 'not usable'),
  );
  if (!status) return report;
  if (!status.usable) {
    const last = report.steps[report.steps.length - 1]!;
    Object.assign(last, { ok: false, kind: status.kind, reason: status.reason });
    report.hint = HINTS[status.reason ?? 'unknown'];
    return report;
  }
  const probe = SecretKey.copyFrom(randomBytes(32), true);
  try {
    const wrapped = await step(
      'wrap',
      () => provider.wrap(resolved.uri, probe, signal()),
      (w: WrappedKey) => `${w.ciphertext.length}-byte copy (${w.algorithm})`,
    );
    if (!wrapped) return report;
    const out = await step(
      'unwrap',
      () => provider.unwrap(wrapped, signal()),
      (k) => `${k.length}-byte key`,
    );
    if (!out) return report;
    try {
      const same = out.length === probe.length && timingSafeEqual(out.expose(), probe.expose());
      report.steps.push({
        step: 'compare',
        ok: same,
        ms: 0,
        detail: same ? 'the round trip returned the value' : 'the round trip returned a different value',
      });
      if (!same) report.hint = 'the key holder returned a different value: do not use this key';
      report.usable = same;
    } finally {
      out.destroy();
    }
  } finally {
    probe.destroy();
  }
  return report;
}

/** Whether pkcs11js, the PKCS#11 provider's optional native addon, is installed (resolvable; not loaded). */
function pkcs11AddonInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pkcs11js');
    return true;
  } catch {
    return false;
  }
}

/** A URI whose scheme no configured provider serves: which setting enables it (not "no such key"). */
export function unservedSchemeHint(provider: RootKeyProvider, uri: string): string | undefined {
  const scheme = uri.slice(0, Math.max(0, uri.indexOf(':')));
  if (provider.schemes.includes(scheme)) return undefined;
  if (scheme === 'pkcs11')
    return (
      "the PKCS#11 provider is not configured: set pkcs11Module (--pkcs11-module PATH or UNWRAPD_PKCS11_MODULE, the token's module, e.g. /usr/lib/softhsm/libsofthsm2.so) and its PIN (--pkcs11-pin-file or UNWRAPD_PKCS11_PIN) (the settings the daemon has)" +
      // Where npm ci found no C++ toolchain, configuring a module is not enough: say so now, not at the next try.
      (pkcs11AddonInstalled()
        ? ''
        : '; first install a C++ toolchain (make, g++, python3) and re-run npm ci: the optional native addon pkcs11js it needs is not installed')
    );
  return `no configured provider serves "${scheme || uri.slice(0, 32)}" key URIs (known: ${provider.schemes.join(', ')}): use local:NAME, https://<vault>.vault.azure.net/keys/NAME, or pkcs11:...`;
}

const CHECK_OPTIONS: OptionSpec = {
  ...Object.fromEntries(CONFIG_FLAGS.map((f) => [f, { type: 'string' }])),
  json: { type: 'boolean' },
  'deadline-ms': { type: 'string' },
};

export async function keysCheck(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, CHECK_OPTIONS, 1);
  const uri = positionals[0];
  if (!uri || positionals.length > 1) throw new UsageError('keys check URI [--json] [--deadline-ms N] [config flags]');
  const flags = Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'string')) as Record<
    string,
    string
  >;
  const { env } = cliIo();
  const config = loadConfig(flags, env);
  const provider = createProviderRouter(createBuiltInProviders(config, env));
  try {
    const report = await checkKey(
      provider,
      uri,
      deadline(values as { 'deadline-ms'?: string }) ?? config.providerTimeoutMs,
    );
    print(values.json as boolean | undefined, report, () => formatReport(report));
    return report.usable ? 0 : 1;
  } finally {
    await provider.close();
  }
}

export function formatReport(r: KeyCheckReport): string {
  const lines = [`key ${r.uri}`];
  for (const s of r.steps) {
    const why = s.ok ? '' : ` ${s.kind ?? 'error'}/${s.reason ?? 'unknown'}`;
    lines.push(`  ${s.step.padEnd(8)} ${s.ok ? 'ok    ' : 'FAILED'}${why}  ${s.detail ?? ''}  (${s.ms} ms)`);
  }
  lines.push(r.usable ? 'unwrapd can use this key.' : `unwrapd cannot use this key: ${r.hint ?? 'see above'}`);
  return lines.join('\n');
}
