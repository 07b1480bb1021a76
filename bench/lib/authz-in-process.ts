import { Access } from '../../src/auth/access.js';
import { AuthorizationTable, type AuthorizationEntry } from '../../src/auth/authorization-table.js';
import { timeLoop, type InProcessResult } from './in-process.js';

/**
 * The authorization check an Encrypt makes (identity -> caller, role, tenant), alone, with a 1,000-identity
 * table: the part of `encrypt-1k-table` that the table adds, without gRPC's noise.
 */
export function authorizationCheck(durationMs: number): InProcessResult {
  const entries: AuthorizationEntry[] = Array.from({ length: 1000 }, (_, i) => ({
    identity: `tls:spiffe://bench.example/ns/app/sa/svc-${i}`,
    roles: ['user'],
    tenants: Array.from({ length: 20 }, (_, j) => `tenant-${i + j}`),
  }));
  const table = new AuthorizationTable(entries, { data: ['user'], admin: ['admin'] });
  const access = new Access();
  // Identities and tenants as a transport would hand them over (strings made per call).
  const ids = entries.map((e) => e.identity);
  const tenants = entries.map((_, n) => `tenant-${n + 7}`);
  let i = 0;
  return timeLoop(
    'authorization check (1,000-identity table)',
    () => {
      const n = i++ % 1000;
      const caller = table.caller(ids[n]!, 'data');
      access.role(caller, 'user', 'Encrypt');
      access.tenant(caller, tenants[n]!, 'Encrypt');
    },
    durationMs,
  );
}
