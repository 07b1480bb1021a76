/**
 * Which @azure/identity credential the Azure Key Vault provider uses (setting `azureCredential`):
 *
 * - `default`: DefaultAzureCredential. In Kubernetes with workload identity (AZURE_CLIENT_ID,
 *   AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE injected by the webhook) and on a VM or pod with a managed
 *   identity this works with no other setting; it also tries the environment and developer tools.
 * - `workload-identity`: WorkloadIdentityCredential only (the same three variables).
 * - `managed-identity`: ManagedIdentityCredential only (AZURE_CLIENT_ID selects a user-assigned identity).
 * - `client-secret`: ClientSecretCredential from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET.
 * - `azure-cli`: AzureCliCredential (a developer's `az login`).
 *
 * @azure/identity is imported only when the first `https:` key is used, so a daemon without Azure keys
 * never loads it. The credential is built from `env` (not read from process.env later), except what MSAL
 * itself reads for managed identity (IDENTITY_ENDPOINT, AZURE_POD_IDENTITY_AUTHORITY_HOST, ...).
 *
 * This file imports nothing: the config names the kinds without loading the credential code
 * (src/providers/azure-credential.ts).
 */
export const AZURE_CREDENTIAL_KINDS = [
  'default',
  'workload-identity',
  'managed-identity',
  'client-secret',
  'azure-cli',
] as const;
export type AzureCredentialKind = (typeof AZURE_CREDENTIAL_KINDS)[number];

const REQUIRED_ENV: Partial<Record<AzureCredentialKind, readonly string[]>> = {
  'workload-identity': ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_FEDERATED_TOKEN_FILE'],
  'client-secret': ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'],
};

/** The environment variables a credential kind needs and that are missing (checked at startup). */
export function missingCredentialEnv(kind: AzureCredentialKind, env: NodeJS.ProcessEnv = process.env): string[] {
  return (REQUIRED_ENV[kind] ?? []).filter((name) => !env[name]);
}
