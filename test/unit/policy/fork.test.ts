import { describe, expect, it } from '@jest/globals';
import type { App } from '../../../src/config/repo-config.js';
import { TARGET_KEYS, forkPreviewApps } from '../../../src/policy/fork.js';

const app = (over: Partial<App> & Pick<App, 'name'>): App => ({ path: `apps/${over.name}`, cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'fail', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...over });

describe('forkPreviewApps: a fork previews its manifests at the base branch targets', () => {
  it("takes every target key from the base app, the rest (path, helm, wait) from the fork's", () => {
    const base = app({ name: 'web', namespace: 'shop' });
    const head = app({ name: 'web', path: 'apps/web-v2', namespace: 'kube-system', cluster: 'prod', conflicts: 'overwrite', prune: false, pruneEmpty: true, createNamespace: true, adopt: ['ConfigMap/kube-system/coredns'], release: [{ object: 'ConfigMap/shop/web' }], selfHeal: true, branch: 'evil', waitMs: 5000 });
    const { apps, problems } = forkPreviewApps([head], [base]);
    expect(problems).toEqual([]);
    expect(apps).toEqual([{ ...base, path: 'apps/web-v2', waitMs: 5000 }]);
    for (const k of TARGET_KEYS) expect(apps[0]?.[k]).toEqual(base[k]);
  });

  it("a fork's release: never counts: the base app's (or none) does", () => {
    const released = app({ name: 'web', release: [{ object: 'ConfigMap/shop/keep', to: 'acme/other' }] });
    expect(forkPreviewApps([app({ name: 'web', release: [{ object: 'ConfigMap/shop/web' }] })], [released]).apps[0]?.release).toEqual(released.release);
    expect(forkPreviewApps([app({ name: 'web', release: [{ object: 'ConfigMap/shop/web' }] })], [app({ name: 'web' })]).apps[0]).not.toHaveProperty('release');
  });

  it('a namespace the base app leaves unset stays unset', () => {
    expect(forkPreviewApps([app({ name: 'web', namespace: 'kube-system' })], [app({ name: 'web' })]).apps[0]).not.toHaveProperty('namespace');
  });

  it('apps only the fork defines are not previewed, and the report says why', () => {
    const { apps, problems } = forkPreviewApps([app({ name: 'web' }), app({ name: 'sneaky', namespace: 'kube-system' })], [app({ name: 'web' })]);
    expect(apps.map((a) => a.name)).toEqual(['web']);
    expect(problems).toEqual([{ message: expect.stringContaining('app sneaky is not defined on the base branch'), file: '.github/mergeops.yml', line: 1 }]);
  });
});
