import type { TestFn } from 'ava';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A system package some tests need (SoftHSM, PostgreSQL, Debian's Python gRPC), which `.ci/run` installs.
 * When it is missing: outside CI (`CI` unset or not `true`) the file's dependent tests are skipped and one
 * line names the package to install; under `CI=true` a failing test says the same, so CI cannot pass
 * without them. Returns whether the dependency is available: register the dependent tests with
 * `available ? test : test.skip` (or `test.serial` / `test.serial.skip`) and return early from hooks.
 */
export interface SystemDependency {
  /** What is missing, e.g. "SoftHSM 2". */
  name: string;
  available: boolean;
  /** How to install it, e.g. "apt-get install softhsm2". */
  installHint: string;
}

export function requireSystemDependency(test: TestFn, importMetaUrl: string, dep: SystemDependency): boolean {
  if (dep.available) return true;
  const file = basename(fileURLToPath(importMetaUrl));
  const message = `${dep.name} is not installed (${dep.installHint}; .ci/run installs it)`;
  if (process.env.CI === 'true') test(`${dep.name} is installed`, (t) => t.fail(`${file}: ${message}`));
  else console.warn(`${file}: skipped: ${message}`);
  return false;
}
