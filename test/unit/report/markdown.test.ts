import { describe, expect, it } from '@jest/globals';
import type { ObjectDiff } from '../../../src/diff/types.js';
import { escapeHtml, escapeMd, fence, htmlCode, mdCode, mdLink, objectText } from '../../../src/report/markdown.js';
import { renderGfm, visibleText } from './cmark.js';

function diff(overrides: Partial<ObjectDiff> = {}): ObjectDiff {
  return {
    ref: 'apps/v1 Deployment prod/web',
    kind: 'Deployment',
    action: 'update',
    diff: '@@ -1,3 +1,3 @@\n spec:\n-  replicas: 2\n+  replicas: 3',
    ...overrides,
  };
}

/** The fence line that opens the first fenced block and whether it is closed by an identical line. */
function fences(md: string): { open: string; body: string } {
  const m = /^(`{3,})diff\n([\s\S]*?)\n\1$/m.exec(md);
  if (!m) throw new Error(`no closed fence in:\n${md}`);
  return { open: m[1] ?? '', body: m[2] ?? '' };
}

describe('escapeHtml / htmlCode (HTML blocks: <summary>)', () => {
  it('escapes &, <, > and quotes, and keeps the text on one line', () => {
    expect(escapeHtml('<a href="x">&amp;</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt;');
    expect(escapeHtml('a\nb')).toBe('a b');
  });

  it('renders literally inside a details summary', () => {
    const html = renderGfm(`<details><summary>${htmlCode('a `b` <i>c</i> *d*')}</summary>\n\nbody\n\n</details>\n`);
    expect(html).toContain('<code>a `b` &lt;i&gt;c&lt;/i&gt; *d*</code>');
  });
});

describe('escapeMd / mdCode (Markdown text and table cells)', () => {
  it.each([
    ['emphasis', '*bold* _it_'],
    ['a heading marker', '# title'],
    ['raw HTML', '<img src=x onerror=alert(1)>'],
    ['a link', '[x](javascript:alert(1))'],
    ['backticks', '`code`'],
    ['an entity', '&amp; &lt;'],
    ['a strikethrough', '~~gone~~'],
    ['backslashes', 'C:\\path\\*'],
  ])('shows %s as typed', (_label, s) => {
    const html = renderGfm(`- x ${escapeMd(s)}\n`);
    expect(visibleText(html).trim()).toBe(`x ${s}`);
    expect(html).not.toMatch(/<(em|strong|h1|img|a|del) /);
    const code = renderGfm(`- ${mdCode(s)}\n`);
    expect(visibleText(code).trim()).toBe(s);
  });

  it('keeps a pipe from splitting a table cell', () => {
    const html = renderGfm(`| a | b |\n|---|---|\n| ${mdCode('x|y')} | ${escapeMd('p|q')} |\n`);
    expect(html).toContain('<td><code>x|y</code></td>');
    expect(html).toContain('<td>p|q</td>');
  });

  it('breaks @mentions so a server message cannot notify anyone', () => {
    expect(escapeMd('ping @acme/admins')).not.toMatch(/@\w/);
    expect(visibleText(renderGfm(`x ${escapeMd('ping @acme')}\n`)).trim()).toBe('x ping @acme');
  });

  it('percent-encodes what would end a Markdown link', () => {
    expect(mdLink('a', 'https://x/a b(c)')).toBe('[a](https://x/a%20b%28c%29)');
  });
});

describe('fence', () => {
  it('uses three backticks for plain text', () => {
    expect(fence('a\nb', 'diff')).toBe('```diff\na\nb\n```');
  });

  it.each([
    ['a triple-backtick run', 'x ``` y', 4],
    ['a line that is exactly a fence', '```\ncode\n```', 4],
    ['six backticks', '+  script: "``````"', 7],
    ['a single backtick', 'a `b` c', 3],
  ])('is longer than %s', (_label, body, expected) => {
    const out = fence(body, 'diff');
    const f = fences(out);
    expect(f.open).toHaveLength(expected);
    expect(f.body).toBe(body);
    // No backtick run inside reaches the fence length.
    for (const run of body.match(/`+/g) ?? []) expect(run.length).toBeLessThan(f.open.length);
  });
});

describe('objectText', () => {
  it('renders plain text for the check run', () => {
    expect(objectText(diff({ source: { file: 'k8s/web.yaml', line: 3 }, note: 'n', secretKeys: { added: [], changed: ['p'], removed: [] } }))).toBe(
      ['~ apps/v1 Deployment prod/web  (k8s/web.yaml:3)', '  note: n', '  Secret keys changed p (values are never shown)', diff().diff].join('\n'),
    );
  });

  it('names a rename', () => {
    expect(objectText(diff({ renamedFrom: 'v1 ConfigMap prod/a-9kd7ch2tgh', diff: '' }))).toBe('~ apps/v1 Deployment prod/web (renamed from v1 ConfigMap prod/a-9kd7ch2tgh)');
  });

  it('omits empty parts', () => {
    expect(objectText(diff({ action: 'create', diff: '' }))).toBe('+ apps/v1 Deployment prod/web');
  });
});
