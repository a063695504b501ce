import { describe, expect, it } from '@jest/globals';
import type { ObjectDiff } from '../../../src/diff/types.js';
import { ANNOTATIONS_PER_REQUEST, CHECK_TEXT_LIMIT, formatCheck } from '../../../src/report/check.js';
import type { AppReport, PreviewReport, Problem } from '../../../src/report/types.js';

function d(ref: string, action: ObjectDiff['action'] = 'update', diff = `@@ -1 +1 @@\n-  a: '1'\n+  a: '2'`): ObjectDiff {
  return { ref, kind: 'ConfigMap', action, diff: action === 'unchanged' ? '' : diff };
}

function bigDiff(ref: string, size: number): ObjectDiff {
  const lines = ['@@ -1,1 +1,1 @@'];
  for (let i = 0, n = 0; n < size; i++) {
    const l = `+  key-${i}: value for ${ref} ${i}`;
    lines.push(l);
    n += l.length + 1;
  }
  return d(ref, 'update', lines.join('\n'));
}

function app(name: string, diffs: ObjectDiff[], problems: Problem[] = []): AppReport {
  return { app: name, cluster: 'prod', diffs, problems, drift: [] };
}

function report(apps: AppReport[], problems: Problem[] = []): PreviewReport {
  return { repo: 'acme/deploys', sha: '0123456789abcdef', apps, problems };
}

describe('formatCheck: success', () => {
  const r = report([
    app('web', [d('v1 ConfigMap prod/a', 'create'), d('v1 ConfigMap prod/b'), d('v1 ConfigMap prod/c'), d('v1 ConfigMap prod/d', 'delete'), d('v1 ConfigMap prod/e', 'unchanged')]),
  ]);

  it('succeeds with a counts title and no annotations', () => {
    const out = formatCheck(r);
    expect(out.conclusion).toBe('success');
    expect(out.title).toBe('1 created · 2 changed · 1 deleted in 1 app');
    expect(out.annotations).toEqual([]);
    expect(out.summary).toBe('- `web` → `prod`: 1 created · 2 changed · 1 deleted');
  });

  it('turns warnings into warning annotations at file:line; the check still succeeds', () => {
    const a = app('web', [d('v1 ConfigMap prod/a')]);
    a.warnings = [{ message: 'deprecated', ref: 'example.com/v1beta1 Widget prod/w', file: 'k8s/w.yaml', line: 3 }];
    const out = formatCheck(report([a]));
    expect(out.conclusion).toBe('success');
    expect(out.annotations).toEqual([{ path: 'k8s/w.yaml', start_line: 3, end_line: 3, annotation_level: 'warning', title: 'example.com/v1beta1 Widget prod/w', message: 'deprecated' }]);
    expect(out.summary).toContain('- warning: `example.com/v1beta1 Widget prod/w`: deprecated (k8s/w.yaml:3)');
  });

  it('mentions drift in the app summary line', () => {
    const a = app('web', [d('v1 ConfigMap prod/b')]);
    a.drift = [{ ref: 'apps/v1 Deployment prod/web', fields: [{ path: 'spec.replicas' }] }];
    expect(formatCheck(report([a])).summary).toBe('- `web` → `prod`: 1 changed; drift in `apps/v1 Deployment prod/web`');
  });

  it('pluralises apps', () => {
    expect(formatCheck(report([app('a', []), app('b', [])])).title).toBe('no changes in 2 apps');
    expect(formatCheck(report([])).title).toBe('no changes in 0 apps');
  });

  it('puts every changed object diff in the text, in one fenced block, and skips unchanged ones', () => {
    const { text } = formatCheck(r);
    expect(text.startsWith('```diff\n')).toBe(true);
    expect(text.endsWith('\n```')).toBe(true);
    expect(text).toContain('[web] + v1 ConfigMap prod/a');
    expect(text).toContain('[web] ~ v1 ConfigMap prod/b');
    expect(text).toContain('[web] - v1 ConfigMap prod/d');
    expect(text).not.toContain('prod/e');
    expect(text).not.toContain('did not fit');
  });

  it('has an empty text and a fallback summary when there is nothing', () => {
    const out = formatCheck(report([]));
    expect(out.text).toBe('');
    expect(out.summary).toBe('Nothing to preview.');
  });
});

describe('formatCheck: failure', () => {
  it('fails with annotations for problems that have a file, defaulting the line to 1', () => {
    const out = formatCheck(
      report(
        [
          app('web', [], [
            { message: 'object has no kind', file: 'k8s/a.yaml', line: 7, ref: 'v1 ? x' },
            { message: 'cluster "prod" is unreachable' },
          ]),
        ],
        [{ message: 'invalid YAML', file: '.github/mergeops.yml' }],
      ),
    );
    expect(out.conclusion).toBe('failure');
    expect(out.title).toBe('3 problems found');
    expect(out.annotations).toEqual([
      { path: '.github/mergeops.yml', start_line: 1, end_line: 1, annotation_level: 'failure', title: 'mergeops', message: 'invalid YAML' },
      { path: 'k8s/a.yaml', start_line: 7, end_line: 7, annotation_level: 'failure', title: 'v1 ? x', message: 'object has no kind' },
    ]);
    expect(out.summary).toContain('- invalid YAML (.github/mergeops.yml)');
    expect(out.summary).toContain('- `v1 ? x`: object has no kind (k8s/a.yaml:7)');
    expect(out.summary).toContain('- cluster "prod" is unreachable');
    expect(out.summary).toContain('- `web` → `prod`: failed (2 problems above)');
  });

  it('uses the singular for one problem', () => {
    const out = formatCheck(report([], [{ message: 'bad' }]));
    expect(out.conclusion).toBe('failure');
    expect(out.title).toBe('1 problem found');
    expect(out.annotations).toEqual([]);
  });

  it('returns every annotation (batching by ANNOTATIONS_PER_REQUEST is the caller’s job)', () => {
    const problems = Array.from({ length: 120 }, (_, i) => ({ message: `m${i}`, file: `f${i}.yaml`, line: i + 1 }));
    const out = formatCheck(report([app('web', [], problems)]));
    expect(ANNOTATIONS_PER_REQUEST).toBe(50);
    expect(out.annotations).toHaveLength(120);
    expect(out.annotations[119]).toMatchObject({ path: 'f119.yaml', start_line: 120 });
  });
});

describe('formatCheck: size limits', () => {
  it('keeps the text within the limit and says how many diffs were left out', () => {
    const diffs = Array.from({ length: 40 }, (_, i) => bigDiff(`v1 ConfigMap prod/cm-${String(i).padStart(2, '0')}`, 3000));
    const { text } = formatCheck(report([app('web', diffs)]));
    expect(text.length).toBeLessThanOrEqual(CHECK_TEXT_LIMIT);
    const m = /… (\d+) more object diffs did not fit GitHub's check-run limit/.exec(text);
    expect(m).not.toBeNull();
    const shown = diffs.filter((x) => text.includes(`[web] ~ ${x.ref}\n`)).length;
    expect(shown).toBeGreaterThan(0);
    expect(shown + Number(m?.[1])).toBe(diffs.length);
    // Shown diffs are complete.
    for (const x of diffs.slice(0, shown)) expect(text).toContain(x.diff);
    expect(text).toMatch(/run `docker run .* ghcr\.io\/mergeops\/mergeops:[^ ]+ node dist\/cli\.js diff <app> --dir \/repo/);
    expect(text.endsWith('\n```')).toBe(true);
  });

  it('names a single diff that is too big for the check run on its own', () => {
    const { text } = formatCheck(report([app('web', [bigDiff('v1 ConfigMap prod/huge', CHECK_TEXT_LIMIT + 1000)])]));
    expect(text.length).toBeLessThanOrEqual(CHECK_TEXT_LIMIT);
    expect(text).toContain('… 1 more object diff did not fit');
  });

  it('fits diffs that together are just under the limit', () => {
    const diffs = Array.from({ length: 10 }, (_, i) => bigDiff(`v1 ConfigMap prod/x${i}`, 6000));
    const { text } = formatCheck(report([app('web', diffs)]));
    expect(text.length).toBeLessThanOrEqual(CHECK_TEXT_LIMIT);
    expect(text).not.toContain('did not fit');
    for (const x of diffs) expect(text).toContain(x.diff);
  });

  it('clips a huge summary to the limit with a note', () => {
    const problems = Array.from({ length: 2000 }, (_, i) => ({ message: `problem ${i} ${'x'.repeat(60)}` }));
    const { summary } = formatCheck(report([], problems));
    expect(summary.length).toBeLessThanOrEqual(CHECK_TEXT_LIMIT);
    expect(summary).toContain("cut at GitHub's 65535-character limit");
  });
});

// Regression: the text was wrapped in a fixed ``` fence that a diff line of backticks could close.
describe('formatCheck: fences', () => {
  /** Opening fence, body; null unless the whole text is one fenced block closed by the same fence. */
  function fenced(text: string): { fence: string; body: string } | null {
    const m = /^(`{3,})diff\n([\s\S]*)\n\1$/.exec(text);
    return m ? { fence: m[1] ?? '', body: m[2] ?? '' } : null;
  }

  /** True when some line of body could close a fence of this length (CommonMark: ≥ as many backticks). */
  function canClose(body: string, fence: string): boolean {
    return body.split('\n').some((l) => new RegExp(`^ {0,3}\`{${fence.length},}\\s*$`).test(l));
  }

  it('uses a fence longer than a line of four backticks in a diff', () => {
    const diff = "@@ -1 +1 @@\n-  a: '1'\n````\n+  a: '2'";
    const { text } = formatCheck(report([app('web', [d('v1 ConfigMap prod/ticks', 'update', diff)])]));
    expect(text.startsWith('`````diff\n')).toBe(true);
    expect(text.endsWith('\n`````')).toBe(true);
    const f = fenced(text);
    expect(f).not.toBeNull();
    expect(f?.body).toBe(`[web] ~ v1 ConfigMap prod/ticks\n${diff}`);
    expect(canClose(f?.body ?? '', f?.fence ?? '')).toBe(false);
    // The old fixed ``` fence would have been closed by that line.
    expect(canClose(f?.body ?? '', '```')).toBe(true);
  });

  it('outgrows the longest backtick run anywhere in any diff', () => {
    const { text } = formatCheck(
      report([app('web', [d('v1 ConfigMap prod/a', 'update', '+ x: "```"'), d('v1 ConfigMap prod/b', 'update', '+ y: "```````"\n```')])]),
    );
    const f = fenced(text);
    expect(f?.fence).toBe('````````');
    expect(canClose(f?.body ?? '', f?.fence ?? '')).toBe(false);
  });

  it('also fences the truncated text safely', () => {
    const diffs = Array.from({ length: 40 }, (_, i) => bigDiff(`v1 ConfigMap prod/cm-${String(i).padStart(2, '0')}`, 3000));
    diffs[0] = d(diffs[0]?.ref ?? 'x', 'update', `${diffs[0]?.diff ?? ''}\n${'`'.repeat(4)}`);
    const { text } = formatCheck(report([app('web', diffs)]));
    expect(text.length).toBeLessThanOrEqual(CHECK_TEXT_LIMIT);
    expect(text).toContain('did not fit');
    const f = fenced(text);
    expect(f?.fence).toBe('`````');
    expect(canClose(f?.body ?? '', f?.fence ?? '')).toBe(false);
  });

  it('keeps the plain ``` fence for ordinary diffs', () => {
    const { text } = formatCheck(report([app('web', [d('v1 ConfigMap prod/a')])]));
    expect(fenced(text)?.fence).toBe('```');
  });
});


describe('formatCheck: the risk gate (review.onRisk: action_required)', () => {
  const gatedApp = (diffs: ObjectDiff[]): AppReport => ({ ...app('web', diffs), review: { onRisk: 'action_required' } });

  it('ends a gated app that deletes objects as action_required, with the Accept risk button', () => {
    const out = formatCheck(report([gatedApp([d('v1 ConfigMap prod/old', 'delete')])]));
    expect(out.conclusion).toBe('action_required');
    expect(out.title).toBe('Review required: 1 risky change (web)');
    expect(out.actions).toEqual([{ label: 'Accept risk', description: 'Reviewed: let this change merge', identifier: 'mergeops-accept' }]);
    expect(out.summary).toContain('**Review required** (`review.onRisk: action_required`): deletes `v1 ConfigMap prod/old`');
    // GitHub's limits on actions: label 20, description 40, identifier 20 characters.
    for (const a of out.actions ?? []) {
      expect(a.label.length).toBeLessThanOrEqual(20);
      expect(a.description.length).toBeLessThanOrEqual(40);
      expect(a.identifier.length).toBeLessThanOrEqual(20);
    }
  });

  it('gates Namespace, CRD and PVC changes too, but not other updates or ungated apps', () => {
    const ns: ObjectDiff = { ref: 'v1 Namespace shop', kind: 'Namespace', action: 'update', diff: '@@' };
    expect(formatCheck(report([gatedApp([ns])])).conclusion).toBe('action_required');
    expect(formatCheck(report([gatedApp([d('v1 ConfigMap prod/a')])])).conclusion).toBe('success');
    expect(formatCheck(report([app('web', [d('v1 ConfigMap prod/old', 'delete')])])).conclusion).toBe('success');
  });

  it('succeeds once someone with write access accepted the risk, naming them', () => {
    const out = formatCheck({ ...report([gatedApp([d('v1 ConfigMap prod/old', 'delete')])]), riskAcceptedBy: 'reviewer' });
    expect(out.conclusion).toBe('success');
    expect(out.actions).toBeUndefined();
    expect(out.summary).toContain('Risky changes accepted by @reviewer: `v1 ConfigMap prod/old`.');
  });

  it('a failure is a failure, gate or not', () => {
    expect(formatCheck(report([gatedApp([d('v1 ConfigMap prod/old', 'delete')]), app('api', [], [{ message: 'boom' }])])).conclusion).toBe('failure');
  });
});
