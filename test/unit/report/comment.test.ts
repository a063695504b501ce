import { describe, expect, it } from '@jest/globals';
import type { ObjectDiff } from '../../../src/diff/types.js';
import { COMMENT_LIMIT, MARKER_PREFIX, formatComment, marker, parseMarker, splitLines } from '../../../src/report/comment.js';
import { counts, countsText, type AppReport, type PreviewReport, type Problem } from '../../../src/report/types.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';

/** A diff whose body is about `size` characters, made of unique, recognisable lines. */
function bigDiff(ref: string, size: number, action: ObjectDiff['action'] = 'update'): ObjectDiff {
  const lines = ['@@ -1,1 +1,1 @@'];
  let n = lines[0]?.length ?? 0;
  for (let i = 0; n < size; i++) {
    const l = `+  key-${i}: value for ${ref} number ${i}`;
    lines.push(l);
    n += l.length + 1;
  }
  return { ref, kind: 'ConfigMap', action, diff: lines.join('\n') };
}

function small(ref: string, action: ObjectDiff['action'] = 'update'): ObjectDiff {
  return { ref, kind: 'ConfigMap', action, diff: action === 'unchanged' ? '' : `@@ -1 +1 @@\n-  a: '1'\n+  a: '2'` };
}

function appReport(app: string, diffs: ObjectDiff[], problems: Problem[] = [], cluster = 'prod'): AppReport {
  return { app, cluster, diffs, problems, drift: [] };
}

function report(apps: AppReport[], problems: Problem[] = []): PreviewReport {
  return { repo: 'acme/deploys', sha: SHA, apps, problems };
}

/** How many comment parts mention the object's summary line. */
function occurrences(parts: string[], ref: string): number {
  return parts.reduce((n, p) => n + p.split(`<code>${ref}</code>`).length - 1, 0);
}

describe('countsText', () => {
  it('names only what happens, never "+0 created"', () => {
    const c = counts([small('a', 'create'), small('b'), small('c'), small('d', 'delete'), small('e', 'unchanged')]);
    expect(c).toEqual({ create: 1, update: 2, replace: 0, delete: 1, unchanged: 1 });
    expect(countsText(counts([small('r', 'replace')]))).toBe('1 replaced');
    expect(countsText(c)).toBe('1 created · 2 changed · 1 deleted');
    expect(countsText(counts([small('b')]))).toBe('1 changed');
    expect(countsText(counts([]))).toBe('no changes');
  });
});

describe('marker / parseMarker', () => {
  it('round-trips the part number', () => {
    expect(marker(1)).toBe('<!-- mergeops:preview:part=1 -->');
    expect(marker(12).startsWith(MARKER_PREFIX)).toBe(true);
    expect(parseMarker(marker(12))).toBe(12);
    expect(parseMarker(`${marker(3)}\nbody`)).toBe(3);
  });

  it('returns null for other comments', () => {
    expect(parseMarker(undefined)).toBeNull();
    expect(parseMarker('')).toBeNull();
    expect(parseMarker('LGTM')).toBeNull();
    expect(parseMarker('<!-- mergeops:preview:part=x -->')).toBeNull();
    expect(parseMarker('<!-- other-bot:preview:part=1 -->')).toBeNull();
  });
});

describe('formatComment: one part', () => {
  const r = report([
    appReport('web', [small('v1 ConfigMap prod/a', 'create'), small('v1 ConfigMap prod/b'), small('v1 ConfigMap prod/c'), small('v1 ConfigMap prod/d', 'delete'), small('v1 ConfigMap prod/e', 'unchanged')]),
  ]);

  it('starts with the hidden marker for part 1', () => {
    const parts = formatComment(r);
    expect(parts).toHaveLength(1);
    expect(parts[0]?.startsWith('<!-- mergeops:preview:part=1 -->\n')).toBe(true);
    expect(parseMarker(parts[0])).toBe(1);
  });

  it('has a header with the short sha, a table row with the counts and an app heading', () => {
    const [body] = formatComment(r);
    expect(body).toContain('### mergeops preview · <code>0123456</code> · 1 of 1 app changes');
    expect(body).toContain('| ⚠️ | <code>web</code> | <code>prod</code> | 1 | 2 | **1** | 🗑️ ConfigMap <code>d</code> |');
    expect(body).toContain('#### ⚠️ <code>web</code> → <code>prod</code> · 1 created · 2 changed · 1 deleted\n');
    expect(body).not.toMatch(/Part \d+ of/);
    expect(body).not.toContain('Continued in the next comment');
  });

  it('shows every changed object and hides unchanged ones', () => {
    const [body] = formatComment(r);
    expect(body).toContain('<b>create</b> <code>v1 ConfigMap prod/a</code>');
    expect(body).toContain('<b>change</b> <code>v1 ConfigMap prod/b</code>');
    expect(body).toContain('🗑️ **delete** <code>v1 ConfigMap prod/d</code>: no longer in Git');
    expect(body).not.toContain('prod/e</code>');
  });

  it('gives an app without changes one line, not a heading', () => {
    const [body] = formatComment(report([appReport('web', [small('x', 'unchanged')])]));
    expect(body).toContain('➖ **No changes:** <code>web</code> → <code>prod</code>');
    expect(body).not.toContain('####');
  });

  it('says when no app deploys from the base branch', () => {
    const [body] = formatComment(report([]));
    expect(body).toContain('No app in <code>.github/mergeops.yml</code>');
  });

  it('lists problems with file and line, HTML-escaped', () => {
    const [body] = formatComment(
      report([appReport('web', [], [{ message: 'object has no <kind>', file: 'k8s/a.yaml', line: 4, ref: 'v1 X y' }])], [
        { message: 'config is broken', file: '.github/mergeops.yml' },
      ]),
    );
    expect(body).toContain(`- ❌ config is broken ([.github/mergeops.yml](https://github.com/acme/deploys/blob/${SHA}/.github/mergeops.yml))`);
    expect(body).toContain(`- ❌ <code>v1 X y</code>: object has no \\<kind\\> ([k8s/a.yaml\\#L4](https://github.com/acme/deploys/blob/${SHA}/k8s/a.yaml#L4))`);
    expect(body).toContain('| ❌ | <code>web</code> | <code>prod</code> | – | – | – | failed: object has no \\<kind\\> |');
  });

  it('includes drift: what the merge reverts, who set it, and what it keeps', () => {
    const a = appReport('web', [small('v1 ConfigMap prod/b')]);
    a.drift = [
      { ref: 'v1 ConfigMap prod/web-config', fields: [{ path: '.data.THEME', live: 'blue', git: 'dark', by: 'kubectl-edit' }], kept: [{ path: '.data.EXTRA', by: 'kubectl-edit' }] },
      { ref: 'v1 Secret prod/creds', fields: [{ path: '.data.password', by: 'kubectl-edit' }] },
    ];
    const [body] = formatComment(report([a]));
    expect(body).toContain('**Drift:** 2 objects in the live cluster were changed outside Git; Git wins on the fields it declares:');
    expect(body).toContain('> - <code>v1 ConfigMap prod/web-config</code>: the merge reverts <code>.data.THEME</code>: live <code>blue</code> (set by <code>kubectl-edit</code>) → Git <code>dark</code>; keeps <code>.data.EXTRA</code> (set by <code>kubectl-edit</code>) (Git does not declare it)');
    expect(body).toContain('> - <code>v1 Secret prod/creds</code>: the merge reverts <code>.data.password</code> (set by <code>kubectl-edit</code>) (value not shown)');
  });

  it('drift the merge only keeps is listed, but neither counted as reverted nor a risk', () => {
    const a = appReport('web', [small('v1 ConfigMap prod/b')]);
    a.drift = [{ ref: 'v1 ConfigMap prod/web-config', fields: [], kept: [{ path: '.data.EXTRA', by: 'kubectl-edit' }] }];
    const [body] = formatComment(report([a]));
    expect(body).toContain('the merge keeps <code>.data.EXTRA</code> (set by <code>kubectl-edit</code>) (Git does not declare it)');
    expect(body).not.toContain('drifted object reverted');
    expect(body).not.toContain('hand edit in the cluster the merge reverts');
  });

  it('lists the API server warnings with file and line, apart from problems', () => {
    const a = appReport('web', [small('v1 ConfigMap prod/b')]);
    a.warnings = [{ message: 'example.com/v1beta1 Widget is deprecated; use v1', ref: 'example.com/v1beta1 Widget prod/w', file: 'k8s/w.yaml', line: 3 }];
    const [body] = formatComment(report([a]));
    expect(body).toMatch(/- ⚠️ <code>example.com\/v1beta1 Widget prod\/w<\/code>: example.com/);
    expect(body).toContain('k8s/w.yaml\\#L3');
  });

  it('keeps the fence intact when a diff contains backticks', () => {
    const d: ObjectDiff = { ref: 'v1 ConfigMap prod/ticks', kind: 'ConfigMap', action: 'update', diff: '@@ -1 +1 @@\n-  x: "```"\n+  x: "`````"\n```' };
    const [body] = formatComment(report([appReport('web', [d])]));
    const m = /^(`{3,})diff\n([\s\S]*?)\n\1$/m.exec(body ?? '');
    expect(m).not.toBeNull();
    expect(m?.[2]).toBe(d.diff);
    expect((m?.[1] ?? '').length).toBeGreaterThan(5);
  });
});

describe('formatComment: splitting', () => {
  it('splits a big report at the default limit without losing any object', () => {
    const diffs = Array.from({ length: 60 }, (_, i) => bigDiff(`v1 ConfigMap prod/cm-${String(i).padStart(3, '0')}`, 5000));
    const parts = formatComment(report([appReport('web', diffs)]));
    expect(parts.length).toBeGreaterThan(1);
    const n = parts.length;
    parts.forEach((p, i) => {
      expect(p.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      expect(p.startsWith(`<!-- mergeops:preview:part=${i + 1} -->\n`)).toBe(true);
      expect(parseMarker(p)).toBe(i + 1);
      expect(p).toContain(`Part ${i + 1} of ${n}`);
      if (i < n - 1) expect(p).toContain(`Continued in the next comment (part ${i + 2} of ${n})`);
      else expect(p).not.toContain('Continued in the next comment');
    });
    for (const d of diffs) {
      expect(occurrences(parts, d.ref)).toBe(1);
      // The whole diff text made it, not a truncated version.
      expect(parts.some((p) => p.includes(d.diff))).toBe(true);
    }
    expect(parts.join('\n')).not.toContain('too big for a comment');
  });

  it('keeps the objects in order across parts', () => {
    const diffs = Array.from({ length: 40 }, (_, i) => bigDiff(`v1 ConfigMap prod/cm-${String(i).padStart(3, '0')}`, 4000));
    const all = formatComment(report([appReport('web', diffs)])).join('\n');
    const positions = diffs.map((d) => all.indexOf(`<code>${d.ref}</code>`));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('splits with a small limit option, each part within it', () => {
    const limit = 3000;
    const apps = [
      appReport('web', Array.from({ length: 12 }, (_, i) => bigDiff(`v1 ConfigMap prod/w${i}`, 800))),
      appReport('api', Array.from({ length: 5 }, (_, i) => bigDiff(`v1 Secret prod/a${i}`, 1500)), [], 'staging'),
    ];
    const parts = formatComment(report(apps), { limit });
    expect(parts.length).toBeGreaterThan(5);
    parts.forEach((p, i) => {
      expect(p.length).toBeLessThanOrEqual(limit);
      expect(parseMarker(p)).toBe(i + 1);
      expect(p).toContain(`Part ${i + 1} of ${parts.length}`);
    });
    for (const d of apps.flatMap((a) => a.diffs)) expect(occurrences(parts, d.ref)).toBe(1);
    const all = parts.join('\n');
    expect(all).toContain('#### ✅ <code>web</code> → <code>prod</code>');
    expect(all).toContain('#### ✅ <code>api</code> → <code>staging</code>');
  });

  it('replaces a single object diff larger than the limit with a pointer to the check run', () => {
    const huge = bigDiff('v1 ConfigMap prod/huge', COMMENT_LIMIT * 2);
    const fine = bigDiff('v1 ConfigMap prod/fine', 2000);
    const parts = formatComment({ ...report([appReport('web', [fine, huge])]), checkRunUrl: 'https://github.com/acme/deploys/runs/42' });
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    const all = parts.join('\n');
    expect(occurrences(parts, huge.ref)).toBe(1);
    expect(all).toContain(`The diff of this object (${huge.diff.split('\n').length} lines) is too big for a comment`);
    expect(all).toContain('[the check run](https://github.com/acme/deploys/runs/42)');
    expect(all).toContain('ghcr.io/mergeops/mergeops:0.1.0 node dist/cli.js diff web --dir /repo');
    expect(all).not.toContain('value for v1 ConfigMap prod/huge number 100\n');
    // The smaller diff is still shown in full.
    expect(all).toContain(fine.diff);
  });

  it('names the check run even without a URL', () => {
    const parts = formatComment(report([appReport('web', [bigDiff('v1 ConfigMap prod/huge', 5000)])]), { limit: 2000 });
    const all = parts.join('\n');
    expect(all).toContain('too big for a comment');
    expect(all).toContain('the <code>mergeops / preview</code> check run');
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2000);
  });

  it('keeps secret key summaries with the pointer', () => {
    const d: ObjectDiff = { ...bigDiff('v1 Secret prod/s', 10_000), kind: 'Secret', secretKeys: { added: ['tls.key'], changed: [], removed: [] } };
    const all = formatComment(report([appReport('web', [d])]), { limit: 4000 }).join('\n');
    expect(all).toContain('too big for a comment');
    expect(all).toContain('key added <code>tls.key</code> (values hidden)');
  });
});

/** `n` problems of about 150 characters, each with a unique id (P0000…) at the start of its message. */
function manyProblems(n: number): Problem[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `P${String(i).padStart(4, '0')}`;
    return { message: `${id} ${'object failed validation because a field is missing '.repeat(3)}`.slice(0, 140), file: `k8s/obj-${i}.yaml`, line: i + 1 };
  });
}

/** How many times each problem id appears across all parts, and whether its whole line is intact. */
function expectEachProblemOnce(parts: string[], problems: Problem[]): void {
  const all = parts.join('\n');
  let last = -1;
  for (const p of problems) {
    const id = p.message.slice(0, 5);
    expect(all.split(`❌ ${id} `).length - 1).toBe(1);
    const line = `- ❌ ${p.message} ([${p.file}\\#L${p.line}](https://github.com/acme/deploys/blob/${SHA}/${p.file}#L${p.line}))`;
    expect(parts.filter((part) => part.includes(line))).toHaveLength(1);
    const pos = all.indexOf(line);
    expect(pos).toBeGreaterThan(last);
    last = pos;
  }
}

// Regression: one app's problem list was a single block, so a long list produced a comment
// over GitHub's limit.
describe('formatComment: huge problem lists', () => {
  it('splits 600 problems of one app into parts within the limit, each problem exactly once', () => {
    const problems = manyProblems(600);
    expect(problems[0]?.message.length).toBe(140);
    const parts = formatComment(report([appReport('web', [], problems)]));
    expect(parts.length).toBeGreaterThan(1);
    const n = parts.length;
    parts.forEach((p, i) => {
      expect(p.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      expect(parseMarker(p)).toBe(i + 1);
      expect(p).toContain(`Part ${i + 1} of ${n}`);
    });
    expectEachProblemOnce(parts, problems);
    expect(parts[0]).toContain('| ❌ | <code>web</code> | <code>prod</code> | – | – | – | failed: P0000');
    expect(parts[0]).toContain('(+599 more) |');
  });

  it('splits 600 report-level problems (in the header) the same way', () => {
    const problems = manyProblems(600);
    const parts = formatComment(report([], problems));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expectEachProblemOnce(parts, problems);
  });

  it('keeps each part within a small limit option', () => {
    const problems = manyProblems(100);
    const parts = formatComment(report([appReport('web', [small('v1 ConfigMap prod/a')], problems)]), { limit: 3000 });
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(3000);
    expectEachProblemOnce(parts, problems);
    expect(occurrences(parts, 'v1 ConfigMap prod/a')).toBe(1);
  });
});

describe('splitLines', () => {
  const lines = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`);
  const block = `${lines.join('\n')}\n`;

  it('returns a block that fits as it is', () => {
    expect(splitLines('a\nb\n', 1000)).toEqual(['a\nb\n']);
    expect(splitLines(block, block.length)).toEqual([block]);
  });

  it('cuts at line ends, every chunk within the budget, nothing lost or reordered', () => {
    const budget = 1000;
    const out = splitLines(block, budget);
    expect(out.length).toBeGreaterThan(5);
    for (const chunk of out) {
      expect(chunk.length).toBeLessThanOrEqual(budget);
      expect(chunk.length).toBeGreaterThan(0);
      expect(chunk.endsWith('\n')).toBe(true);
    }
    const rejoined = out.join('');
    // The original text, whole lines, in order (at most one extra trailing newline).
    expect(rejoined.replace(/\n$/, '')).toBe(block);
    for (const l of lines) expect(out.filter((c) => c.split('\n').includes(l))).toHaveLength(1);
  });

  it('cuts a single over-long line with a visible note', () => {
    const budget = 1000;
    const long = 'y'.repeat(5000);
    const out = splitLines(`before\n${long}\nafter`, budget);
    for (const chunk of out) expect(chunk.length).toBeLessThanOrEqual(budget);
    const all = out.join('');
    expect(all).toContain('(line cut: 5000 characters)');
    expect(all).not.toContain(long);
    expect(all).toContain('before\n');
    expect(all).toContain('after\n');
    expect(all.indexOf('before')).toBeLessThan(all.indexOf('line cut'));
    expect(all.indexOf('line cut')).toBeLessThan(all.indexOf('after'));
  });

  it('is used by formatComment for a huge drift list', () => {
    const a = appReport('web', [small('v1 ConfigMap prod/b')]);
    a.drift = Array.from({ length: 800 }, (_, i) => ({ ref: `apps/v1 Deployment prod/web-${String(i).padStart(4, '0')}`, fields: [{ path: 'spec.replicas', live: '5', git: '3' }] }));
    const parts = formatComment(report([a]));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    const all = parts.join('\n');
    for (const d of a.drift) expect(all.split(`<code>${d.ref}</code>`).length - 1).toBe(1);
  });
});

