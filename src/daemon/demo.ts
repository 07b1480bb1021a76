import type { PolicyService } from '../core/policy-service.js';
import type { Logger } from '../log/logger.js';
import { openLocalKeystore } from '../providers/local-keystore.js';
import type { PolicyRegistry } from '../registry/policy-registry.js';

export const DEMO_TENANT = 'demo';
export const DEMO_POLICY = 'demo-mailbox';
/** The demo's customer keys. Its availability key is its own, created with the policy (availabilityKeyBase). */
export const DEMO_KEYS = { 'customer-a': 'demo-customer-a', 'customer-b': 'demo-customer-b' } as const;

/**
 * First run on the embedded default: local customer keys and one mailbox-mode policy with its own
 * availability key, so that a newcomer can encrypt something with nothing else installed. Idempotent: an
 * existing key or policy is left as it is.
 */
export async function ensureDemo(
  keystorePath: string,
  registry: PolicyRegistry,
  policies: PolicyService,
  log: Logger,
): Promise<boolean> {
  if (registry.get(DEMO_TENANT, DEMO_POLICY)) return false;
  const keystore = await openLocalKeystore(keystorePath);
  const existing = new Set((await keystore.list()).map((k) => k.name));
  for (const name of Object.values(DEMO_KEYS)) {
    if (!existing.has(name)) {
      await keystore.createKey(name);
      log.info('created local root key', { key_name: name });
    }
  }
  await policies.create({
    tenant: DEMO_TENANT,
    id: DEMO_POLICY,
    name: 'Demo mailbox policy',
    mode: 'mailbox',
    geo: '',
    keys: {
      'customer-a': `local:${DEMO_KEYS['customer-a']}`,
      'customer-b': `local:${DEMO_KEYS['customer-b']}`,
      availability: '',
    },
    signal: AbortSignal.timeout(60_000),
  });
  log.info('created demo policy', { tenant: DEMO_TENANT, policy: DEMO_POLICY });
  return true;
}
