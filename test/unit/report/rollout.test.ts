import { describe, expect, it } from '@jest/globals';
import { rolloutText } from '../../../src/cli/commands.js';
import type { RolloutEntry } from '../../../src/diff/rollout.js';
import { formatCheck } from '../../../src/report/check.js';
import { formatComment } from '../../../src/report/comment.js';
import type { AppReport, PreviewReport } from '../../../src/report/types.js';
import { renderGfm, visibleText } from './cmark.js';

const restart: RolloutEntry = {
  ref: 'apps/v1 Deployment shop/api',
  kind: 'Deployment',
  source: { file: 'deploy/api.yaml', line: 3 },
  line: 'restart (image `api` `2.1.0` → `2.2.0`): 4 pods replaced, up to 1 extra (maxSurge 25%) and 1 unavailable (maxUnavailable 25%) at a time; peak 5 pods',
  short: 'restarts 4 pods, peak 5',
  findings: [],
};
const stale = (fails: boolean): RolloutEntry => ({
  ref: 'apps/v1 Deployment shop/web',
  kind: 'Deployment',
  source: { file: 'deploy/web.yaml', line: 12 },
  line: 'no restart: the pod template does not change',
  short: 'no restart',
  findings: [{ check: 'config-not-reloaded', message: '`web` reads ConfigMap `web-config` through envFrom; its pods keep the old values until they restart.', ...(fails ? { fails: true } : {}) }],
});

function report(entries: RolloutEntry[]): PreviewReport {
  const app: AppReport = {
    app: 'shop',
    cluster: 'prod',
    namespace: 'shop',
    diffs: [
      { ref: 'apps/v1 Deployment shop/api', kind: 'Deployment', action: 'update', diff: '@@ -1 +1 @@\n-a\n+b', fields: [{ path: 'spec.template.spec.containers[api].image', before: 'api:2.1.0', after: 'api:2.2.0' }] },
      { ref: 'v1 ConfigMap shop/web-config', kind: 'ConfigMap', action: 'update', diff: '@@ -1 +1 @@\n-a\n+b', fields: [{ path: 'data.VALUE', before: '1', after: '2' }] },
    ],
    problems: [],
    drift: [],
    rollout: entries,
  };
  return { repo: 'acme/deploys', sha: '0123456789abcdef0123456789abcdef01234567', apps: [app], problems: [] };
}

describe('rollout in the comment, the check and the CLI', () => {
  it('the comment has a Rollout line per workload (table and detail) and the findings in the risk summary', () => {
    const body = formatComment(report([restart, stale(false)])).join('\n');
    const text = visibleText(renderGfm(body));
    const top = visibleText(renderGfm(body.slice(0, body.indexOf('\n| |'))));
    expect(top).toContain('rollout: Deployment shop/web keeps the old config (config-not-reloaded)');
    // The table row's "look at" cell.
    expect(text).toMatch(/🔁 api restarts 4 pods, peak 5[\s\S]*⚠️ web keeps the old config/);
    expect(text).toContain('🔁 Deployment shop/api: restart (image api 2.1.0 → 2.2.0): 4 pods replaced');
    expect(text).toContain('⚠️ keeps the old config (config-not-reloaded): web reads ConfigMap web-config through envFrom');
    expect(renderGfm(body)).toContain('<a href="https://github.com/acme/deploys/blob/0123456789abcdef0123456789abcdef01234567/deploy/web.yaml#L12">deploy/web.yaml#L12</a>');
  });

  it('the check annotates each workload with a finding at its file and line (a plain rollout is in the summary only); success until failOn names it', () => {
    const out = formatCheck(report([restart, stale(false)]));
    expect(out.conclusion).toBe('success');
    expect(out.annotations).toEqual([
      expect.objectContaining({ path: 'deploy/web.yaml', start_line: 12, annotation_level: 'warning', message: expect.stringContaining('warning config-not-reloaded — keeps the old config: `web` reads ConfigMap') }),
    ]);
    expect(out.summary).toContain(`- \`shop\` rollout of \`Deployment shop/api\`: ${restart.line}`);
    expect(out.summary).toContain('- `shop` rollout of `Deployment shop/web`: no restart: the pod template does not change\n  - warning `config-not-reloaded`: `web` reads ConfigMap `web-config` through envFrom');
  });

  it('a finding failOn names fails the check, with a failure annotation, and leads the risk summary', () => {
    const r = report([restart, stale(true)]);
    const out = formatCheck(r);
    expect(out.conclusion).toBe('failure');
    expect(out.title).toBe('1 rollout finding fails the preview (failOn: config-not-reloaded)');
    expect(out.annotations.find((a) => a.path === 'deploy/web.yaml')?.annotation_level).toBe('failure');
    const body = formatComment(r).join('\n');
    expect(body).toContain('> [!CAUTION]');
    expect(visibleText(renderGfm(body))).toContain('⛔ keeps the old config (config-not-reloaded: failOn makes it fail the preview)');
  });

  it('the CLI prints the same lines, plain', () => {
    expect(rolloutText([restart, stale(true)])).toBe(
      [
        '',
        'Rollout:',
        '  apps/v1 Deployment shop/api (deploy/api.yaml:3): restart (image api 2.1.0 → 2.2.0): 4 pods replaced, up to 1 extra (maxSurge 25%) and 1 unavailable (maxUnavailable 25%) at a time; peak 5 pods',
        '  apps/v1 Deployment shop/web (deploy/web.yaml:12): no restart: the pod template does not change',
        '    error: config-not-reloaded (keeps the old config): web reads ConfigMap web-config through envFrom; its pods keep the old values until they restart.',
        '',
      ].join('\n'),
    );
  });
});
