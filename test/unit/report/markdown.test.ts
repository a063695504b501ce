import { describe, expect, it } from '@jest/globals';
import type { ObjectDiff } from '../../../src/diff/types.js';
import { escapeHtml, fence, objectBlock, objectText, secretLine } from '../../../src/report/markdown.js';

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

describe('escapeHtml', () => {
  it('escapes &, < and >', () => {
    expect(escapeHtml('<a href="x">&amp;</a>')).toBe('&lt;a href="x"&gt;&amp;amp;&lt;/a&gt;');
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

describe('secretLine', () => {
  it('is empty for non-secrets and secrets without key changes', () => {
    expect(secretLine(diff())).toBe('');
    expect(secretLine(diff({ secretKeys: { added: [], changed: [], removed: [] } }))).toBe('');
  });

  it('lists the key changes, never values', () => {
    expect(secretLine(diff({ secretKeys: { added: ['a', 'b'], changed: ['c'], removed: ['d'] } }))).toBe(
      'Secret keys added `a`, `b`; changed `c`; removed `d` (values are never shown)\n\n',
    );
  });
});

describe('objectBlock', () => {
  it('renders a collapsible block with the action symbol, ref, source and fenced diff', () => {
    const out = objectBlock(diff({ source: { file: 'k8s/web.yaml', line: 12 } }));
    expect(out.startsWith('<details><summary><code>~ apps/v1 Deployment prod/web</code> <sub>k8s/web.yaml:12</sub></summary>\n\n')).toBe(true);
    expect(out.endsWith('\n</details>\n')).toBe(true);
    expect(fences(out).body).toBe(diff().diff);
  });

  it.each([
    ['create', '+'],
    ['update', '~'],
    ['delete', '-'],
    ['unchanged', '='],
  ] as const)('uses the right symbol for %s', (action, symbol) => {
    expect(objectBlock(diff({ action }))).toContain(`<code>${symbol} apps/v1 Deployment prod/web</code>`);
  });

  it('escapes HTML in the ref and the source path', () => {
    const out = objectBlock(diff({ ref: 'v1 ConfigMap <script>', source: { file: 'a<b>.yaml', line: 1 } }));
    expect(out).toContain('v1 ConfigMap &lt;script&gt;');
    expect(out).toContain('a&lt;b&gt;.yaml:1');
    expect(out).not.toContain('<script>');
  });

  it('includes the note and the secret key line', () => {
    const out = objectBlock(diff({ note: 'server-side dry run failed', secretKeys: { added: ['k'], changed: [], removed: [] } }));
    expect(out).toContain('> server-side dry run failed\n\n');
    expect(out).toContain('Secret keys added `k`');
  });

  it('replaces the diff with the given body', () => {
    const out = objectBlock(diff(), 'too big');
    expect(out).toContain('\n\ntoo big\n</details>');
    expect(out).not.toContain('replicas');
  });

  it('keeps the fence intact when the diff contains backticks', () => {
    const body = '@@ -1 +1 @@\n-  cmd: "```"\n+  cmd: "````"';
    const out = objectBlock(diff({ diff: body }));
    const f = fences(out);
    expect(f.body).toBe(body);
    expect(f.open.length).toBeGreaterThan(4);
  });
});

describe('objectText', () => {
  it('renders plain text for the check run', () => {
    expect(objectText(diff({ source: { file: 'k8s/web.yaml', line: 3 }, note: 'n', secretKeys: { added: [], changed: ['p'], removed: [] } }))).toBe(
      [
        '~ apps/v1 Deployment prod/web  (k8s/web.yaml:3)',
        '  note: n',
        '  Secret keys changed `p` (values are never shown)',
        diff().diff,
      ].join('\n'),
    );
  });

  it('omits empty parts', () => {
    expect(objectText(diff({ action: 'create', diff: '' }))).toBe('+ apps/v1 Deployment prod/web');
  });
});
