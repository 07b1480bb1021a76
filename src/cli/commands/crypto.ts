import { readFile, writeFile } from 'node:fs/promises';
import { UsageError } from '../cli-error.js';
import { CLIENT_OPTIONS, contextOption, parse, required } from '../options.js';
import { print } from '../output.js';
import { withClient } from './policy.js';

const CRYPTO_OPTIONS = {
  ...CLIENT_OPTIONS,
  tenant: { type: 'string' },
  policy: { type: 'string' },
  context: { type: 'string', multiple: true },
  in: { type: 'string' },
  out: { type: 'string' },
  purpose: { type: 'string' },
  'request-id': { type: 'string' },
  'target-policy': { type: 'string' },
} as const;

/** `unwrapd encrypt`: a file or stdin in, an envelope out (a file or stdout). */
export async function encrypt(args: string[]): Promise<number> {
  const { values } = parse(args, CRYPTO_OPTIONS);
  const plaintext = await readInput(values.in);
  const res = await withClient(values, (c, deadlineMs) =>
    c.encrypt(
      {
        tenant: required(values.tenant, 'tenant'),
        policyId: required(values.policy, 'policy'),
        plaintext,
        context: contextOption(values.context),
        purpose: purposeOption(values.purpose),
        requestId: values['request-id'] ?? '',
      },
      { deadlineMs },
    ),
  );
  if (values.json) print(true, { envelope: res.envelope.toString('base64'), keyVersion: res.keyVersion }, () => '');
  else await writeOutput(values.out, res.envelope);
  return 0;
}

/** `unwrapd decrypt`: an envelope in (a file or stdin), the plaintext out (a file or stdout). */
export async function decrypt(args: string[]): Promise<number> {
  const { values } = parse(args, CRYPTO_OPTIONS);
  if (values.policy) throw new UsageError('decrypt takes no --policy: the envelope names its policy');
  const envelope = await readInput(values.in);
  const res = await withClient(values, (c, deadlineMs) =>
    c.decrypt(
      {
        tenant: required(values.tenant, 'tenant'),
        envelope,
        context: contextOption(values.context),
        purpose: purposeOption(values.purpose),
        requestId: values['request-id'] ?? '',
      },
      { deadlineMs },
    ),
  );
  if (values.json) print(true, { plaintext: res.plaintext.toString('base64'), policyId: res.policyId, keyVersion: res.keyVersion }, () => '');
  else await writeOutput(values.out, res.plaintext);
  return 0;
}

/** `unwrapd rewrap`: an envelope in, the same content under another policy (or the newest version) out. */
export async function rewrap(args: string[]): Promise<number> {
  const { values } = parse(args, CRYPTO_OPTIONS);
  const envelope = await readInput(values.in);
  const res = await withClient(values, (c, deadlineMs) =>
    c.rewrap(
      {
        tenant: required(values.tenant, 'tenant'),
        envelope,
        context: contextOption(values.context),
        targetPolicyId: values['target-policy'] ?? '',
        purpose: purposeOption(values.purpose),
        requestId: values['request-id'] ?? '',
      },
      { deadlineMs },
    ),
  );
  if (values.json) print(true, { envelope: res.envelope.toString('base64'), policyId: res.policyId, keyVersion: res.keyVersion }, () => '');
  else await writeOutput(values.out, res.envelope);
  return 0;
}

function purposeOption(value: string | undefined): 'PURPOSE_USER' | 'PURPOSE_SYSTEM' {
  if (value === undefined || value === 'user') return 'PURPOSE_USER';
  if (value === 'system') return 'PURPOSE_SYSTEM';
  throw new UsageError('--purpose must be user or system');
}

async function readInput(path: string | undefined): Promise<Buffer> {
  if (path && path !== '-') return readFile(path);
  if (process.stdin.isTTY) throw new UsageError('give --in FILE, or pipe the input on stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function writeOutput(path: string | undefined, data: Buffer): Promise<void> {
  if (path && path !== '-') {
    await writeFile(path, data, { mode: 0o600 });
    return;
  }
  await new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}
