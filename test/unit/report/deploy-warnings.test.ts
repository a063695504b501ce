import { describe, expect, it } from '@jest/globals';
import { formatDeployCheck, type DeployReport } from '../../../src/report/deploy.js';

describe('deploy check: the dry-run warnings the preview showed', () => {
  it('lists them per app and annotates them at file:line as warnings; the deploy still succeeds', () => {
    const r: DeployReport = {
      repo: 'acme/deploys',
      sha: 'c'.repeat(40),
      problems: [],
      apps: [
        {
          app: 'web',
          cluster: 'default',
          problems: [],
          applied: {
            changes: [{ ref: 'example.com/v1beta1 Gizmo shop/g1', action: 'created' }],
            warnings: [
              { ref: 'example.com/v1beta1 Gizmo shop/g1', message: 'example.com/v1beta1 Gizmo is deprecated', source: { file: 'k8s/g.yaml', line: 4 }, from: 'server' },
              { ref: 'v1 ConfigMap other/stray', message: 'not pruned although Git no longer has it: namespace "other" is not granted', from: 'mergeops' },
            ],
          },
        },
      ],
    } as DeployReport;
    const out = formatDeployCheck(r);
    expect(out.conclusion).toBe('success');
    expect(out.summary).toContain('- ⚠️ <code>example.com/v1beta1 Gizmo shop/g1</code>: example.com/v1beta1 Gizmo is deprecated');
    expect(out.summary).toContain('not pruned although Git no longer has it');
    expect(out.annotations).toEqual([{ path: 'k8s/g.yaml', start_line: 4, end_line: 4, annotation_level: 'warning', title: 'example.com/v1beta1 Gizmo shop/g1', message: 'example.com/v1beta1 Gizmo is deprecated' }]);
  });
});
