// docs/errors.md against the code: every code of errorTable has a row and a section with its
// status and default message, no unknown code is named, and every signature failure reason is listed.

import { readFileSync } from 'node:fs';
import t from 'tap';
import { errorTable } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const signatureSource = readFileSync(new URL('../src/signature.ts', import.meta.url), 'utf8');
const codes = Object.keys(errorTable) as (keyof typeof errorTable)[];

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`docs/errors.md has no "## ${title}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end === -1 ? undefined : end);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

t.test('the summary table has one row per code of errorTable, with its HTTP status', async (t) => {
  const rows = [...section('Summary').matchAll(/^\| `(GW_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1]!, Number(match[2])] as const);
  t.strictSame(Object.fromEntries(rows), Object.fromEntries(codes.map((code) => [code, errorTable[code].status])));
  t.equal(rows.length, new Set(rows.map(([code]) => code)).size, 'no code has two rows');
});

t.test('each code has a section headed with its status and showing its default message', async (t) => {
  const codesSection = section('Codes');
  const headings = [...codesSection.matchAll(/^### `(GW_ERR_[A-Z0-9_]+)` \((\d{3})\)$/gm)].map((match) => [match[1]!, Number(match[2])] as const);
  t.strictSame(Object.fromEntries(headings), Object.fromEntries(codes.map((code) => [code, errorTable[code].status])));
  t.equal(headings.length, new Set(headings.map(([code]) => code)).size, 'no code has two sections');

  const documentedMessages = Object.fromEntries(
    codesSection
      .split(/^(?=### )/m)
      .slice(1)
      .map((part) => [/^### `(GW_ERR_[A-Z0-9_]+)`/.exec(part)?.[1], /^\*\*Message:\*\* `(.*)`$/m.exec(part)?.[1]]),
  );
  t.strictSame(documentedMessages, Object.fromEntries(codes.map((code) => [code, errorTable[code].message])));
});

t.test('the page names no GW_ERR_ code that errorTable does not have', async (t) => {
  const named = new Set([...doc.matchAll(/GW_ERR_[A-Z0-9_]+/g)].map((match) => match[0]));
  t.strictSame([...named].filter((code) => !(code in errorTable)), []);
});

t.test('every signature failure reason of src/signature.ts is listed with its code, and no other', async (t) => {
  // Each failure is `{ ok: false, code: '…', reason: <a string, a template or a choice of strings> }`.
  const fromSource = [...signatureSource.matchAll(/code: '(GW_ERR_[A-Z0-9_]+)', reason: (.+?) \};?$/gm)].flatMap((match) => {
    const expression = match[2]!;
    const templates = [...expression.matchAll(/`([^`]+)`/g)].map((literal) => literal[1]!);
    const strings = [...expression.replace(/`[^`]*`/g, '').matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((literal) => literal[1]!).filter((text) => text !== '');
    return [...templates, ...strings].map((text) => ({
      code: match[1]!,
      text,
      // A ${…} placeholder stands for whatever the doc shows in its place (an example number).
      pattern: new RegExp(`^${text.split(/\$\{[^}]+\}/).map(escapeRegExp).join('.+?')}$`),
    }));
  });
  t.ok(fromSource.length >= 8, `found the reasons in src/signature.ts (${fromSource.length})`);

  const rows = [...section('Signature failures').matchAll(/^\| `([^`]+)` \| `(GW_ERR_[A-Z0-9_]+)` \|/gm)].map((match) => ({ text: match[1]!, code: match[2]! }));
  const missing = fromSource.filter((reason) => !rows.some((row) => row.code === reason.code && reason.pattern.test(row.text))).map((reason) => `${reason.code}: ${reason.text}`);
  const stale = rows.filter((row) => !fromSource.some((reason) => row.code === reason.code && reason.pattern.test(row.text))).map((row) => `${row.code}: ${row.text}`);
  t.strictSame(missing, [], 'reasons the doc does not list');
  t.strictSame(stale, [], 'listed reasons the code no longer gives');
});

t.test('the rate limiting section says tool calls get the spoken fallback instead of a 429', async (t) => {
  const rateLimiting = section('Rate limiting');
  t.match(rateLimiting, /`GW_ERR_RATE_LIMITED`/);
  t.match(rateLimiting, /`retry-after`/);
  t.match(rateLimiting, /Tool calls are never answered 429/);
  t.match(rateLimiting, /`rate_limited` fallback/);
});
