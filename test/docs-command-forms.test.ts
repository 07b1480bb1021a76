import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Command lines in README.md and docs/ whose output goes to a file or a pipe use a form that writes nothing
 * of its own on stdout: `npx unwrapd`, `node bin/unwrapd.js`, `unwrapd`. `npm run` / `npm start` /
 * `npm exec` print a banner there (`> unwrapd@0.1.0 cli`) unless given `--silent`, and an envelope redirected
 * after it no longer decrypts.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

/** Shell command lines: the lines of fenced code blocks, and inline code spans. */
function commandLines(text: string): string[] {
  const lines: string[] = [];
  for (const block of text.matchAll(/^\s*```[^\n]*\n([\s\S]*?)^\s*```/gm)) lines.push(...block[1]!.split('\n'));
  const prose = text.replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```/gm, '');
  for (const span of prose.matchAll(/`([^`\n]+)`/g)) lines.push(span[1]!.replace(/\\\|/g, '|'));
  return lines.map((l) => l.replace(/\s+#\s.*$/, '').trim()).filter(Boolean);
}

/** Whether a command line sends stdout elsewhere than the terminal: `> file`, `>> file`, `| command`. */
const redirectsStdout = (line: string) => {
  const shell = line.replace(/<[A-Za-z](?:[\w .-]*[\w.])?>/g, 'X'); // placeholders: <file>, <test title>
  return /(^|[^0-9&>-])>>?\s*[^\s&]/.test(shell) || /[^|]\|[^|]/.test(shell);
};
const runsUnwrapd = (line: string) => /(^|[\s;&|(])(npx unwrapd|node bin\/unwrapd\.js|unwrapd) /.test(line);
/** An npm command that prints its banner on stdout: npm run/start/exec/test without --silent (-s). */
const npmBanner = (line: string) =>
  /\bnpm (run|run-script|start|exec|test)\b/.test(line) && !/\s(--silent|-s)(\s|$)/.test(line);

test('every documented command line that redirects or pipes stdout uses a form that prints no banner', (t) => {
  const redirected: string[] = [];
  for (const file of DOCS) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    t.false(/npm run cli\b/.test(text), `${file}: the npm run cli form`);
    for (const line of commandLines(text)) {
      if (!redirectsStdout(line)) continue;
      if (runsUnwrapd(line) || npmBanner(line)) redirected.push(line);
      t.false(npmBanner(line), `${file}: ${line}`);
    }
  }
  // The README's own examples are among them: the check is not vacuous.
  t.true(
    redirected.some((l) => l.startsWith('echo hello | npx unwrapd encrypt') && l.endsWith('> hello.uwe')),
    redirected.join('\n'),
  );
});

test('the check above catches the banner forms', (t) => {
  for (const line of [
    'npm run cli -- encrypt --tenant t > out.uwe',
    'npm start | tee log',
    'npm exec unwrapd status >> s',
  ])
    t.true(redirectsStdout(line) && npmBanner(line), line);
  for (const line of [
    'npm run -s cli -- encrypt > out.uwe',
    'npx unwrapd encrypt 2>/dev/null',
    'npm run fuzz -- <file> --match <test title>',
    'a || b',
    'x -> y',
  ])
    t.false(redirectsStdout(line) && npmBanner(line), line);
});

test('npx unwrapd --version prints the version and nothing else on stdout', async (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile('npx', ['--no-install', 'unwrapd', '--version'], { cwd: ROOT, timeout: 120_000 }, (err, out) =>
      err ? reject(err) : resolve(out),
    ),
  );
  t.is(stdout, `unwrapd ${version}\n`);
});
