import { describe, expect, it } from '@jest/globals';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { loadClusterTargets } from '../../../src/config/clusters.js';
import { PREVIEW_ENV_LABEL, placeInNamespace, previewApp, previewNamespaceName, previewValues } from '../../../src/engine/preview-env.js';
import { capRefusal, wantedEnvironments } from '../../../src/flows/preview-env.js';
import type { PreviewEnvRecord } from '../../../src/cluster/preview-namespace.js';
import type { PreviewJob } from '../../../src/flows/jobs.js';
import type { RenderedObject } from '../../../src/objects.js';
import { UserError } from '../../../src/errors.js';
import { thrown } from '../../support/expect-error.js';

const expectUserError = (fn: () => unknown, re: RegExp): void => {
  expect(thrown(fn, UserError).message).toMatch(re);
};
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const config = (extra = '') => `apps:\n  - name: web\n    path: deploy\n    cluster: prod\n    previewEnvironment:\n      url: "https://pr-{number}.example.com"\n      values: { ingress.host: "pr-{number}.example.com" }\n${extra}`;
const obj = (apiVersion: string, kind: string, name: string, namespace?: string): RenderedObject => ({ object: { apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }, source: { file: `deploy/${name}.yaml`, line: 1 } });
const job = (o: Partial<PreviewJob> = {}): PreviewJob => ({ installationId: 1, owner: 'acme', repo: 'shop', repoId: 7, pr: 12, headSha: 'a'.repeat(40), baseRef: 'main', baseSha: 'b'.repeat(40), defaultBranch: 'main', fromFork: false, ...o });
const record = (pr: number, repoId = 7, repo = 'acme/shop'): PreviewEnvRecord => ({ cluster: 'preview', namespace: `pr-${pr}-web`, repo, repoId, pr, app: 'web', installationId: 1, createdAt: '', expiresAt: '', startedBy: 'label', fromFork: false });

describe('previewEnvironment in .github/mergeops.yml', () => {
  it('fills the defaults: the app cluster, pr-{number}-{app}, 72h, label', () => {
    const app = parseRepoConfig(config(), 'main').apps[0];
    expect(app?.previewEnvironment).toEqual({ cluster: 'prod', namespace: 'pr-{number}-{app}', url: 'https://pr-{number}.example.com', values: { 'ingress.host': 'pr-{number}.example.com' }, set: [], ttlMs: 72 * 3600_000, waitMs: 300_000, when: 'label' });
  });

  it('refuses an unknown when: with the allowed values', () => {
    expectUserError(() => parseRepoConfig(config('      when: sometimes\n'), 'main'), /apps\[0\]\.previewEnvironment\.when.*label or always/);
  });

  it('a namespace that is no namespace name once the number is in is the config mistake, said so', () => {
    expect(previewNamespaceName({ namespace: 'pr-{number}-{app}' }, 12, 'web')).toBe('pr-12-web');
    expectUserError(() => previewNamespaceName({ namespace: `pr-{number}-${'x'.repeat(62)}` }, 12, 'web'), /not a namespace name/);
  });
});

describe('the operator grant of preview environments', () => {
  const file = (grant: string): string => {
    const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pe-grant-')), 'clusters.yaml');
    fs.writeFileSync(p, `clusters:\n  preview:\n    kubeconfig: /dev/null\n    grants:\n      - repos: ["acme/*"]\n${grant}`);
    return p;
  };

  it('previewNamespaces with the defaults of preview:', () => {
    const g = loadClusterTargets(file('        previewNamespaces: ["pr-*"]\n')).get('preview')?.grants?.[0];
    expect(g?.preview).toEqual({ namespaces: ['pr-*'], role: 'edit', maxPerRepository: 3, maxTotal: 10 });
  });

  it('preview: without previewNamespaces is refused', () => {
    expectUserError(() => loadClusterTargets(file('        preview: {maxTotal: 4}\n')), /preview: has no effect without previewNamespaces/);
  });
});

describe('placing a render in the preview namespace', () => {
  const namespaced = async (_v: string, kind: string) => (kind === 'Widget' ? undefined : !['ClusterRole', 'Namespace', 'CustomResourceDefinition'].includes(kind));

  it('moves every namespaced object into it, refuses and lists cluster-scoped and unknown kinds, and sets fields', async () => {
    const placed = await placeInNamespace([obj('v1', 'ConfigMap', 'a', 'kube-system'), obj('v1', 'ConfigMap', 'b'), obj('rbac.authorization.k8s.io/v1', 'ClusterRole', 'admin2'), obj('v1', 'Namespace', 'shop'), obj('x.io/v1', 'Widget', 'w')], 'pr-12-web', namespaced, {
      refuseSecrets: false,
      set: [{ kind: 'ConfigMap', name: 'a', path: 'data.host', value: 'pr-{number}.{namespace}' }],
      vars: { number: 12, app: 'web', namespace: 'pr-12-web' },
    });
    expect(placed.objects.map((o) => o.object.metadata.namespace)).toEqual(['pr-12-web', 'pr-12-web']);
    expect(placed.objects[0]?.object['data']).toEqual({ host: 'pr-12.pr-12-web' });
    expect(placed.refused.map((r) => r.ref)).toEqual(['rbac.authorization.k8s.io/v1 ClusterRole admin2', 'v1 Namespace shop', 'x.io/v1 Widget w']);
    expect(placed.refused[0]?.why).toContain('cluster-scoped');
  });

  it("refuses a fork's Secrets", async () => {
    const placed = await placeInNamespace([obj('v1', 'Secret', 's'), obj('v1', 'ConfigMap', 'c')], 'pr-1-web', namespaced, { refuseSecrets: true, set: [], vars: { number: 1, app: 'web' } });
    expect(placed.objects.map((o) => o.object.kind)).toEqual(['ConfigMap']);
    expect(placed.refused).toEqual([{ ref: 'v1 Secret s', why: expect.stringContaining('fork') }]);
  });

  it('Helm values: dotted keys are paths, templates filled, over the app values', () => {
    expect(previewValues({ ingress: { enabled: true } }, { 'ingress.host': 'pr-{number}.x' }, { number: 3, app: 'web' })).toEqual({ ingress: { enabled: true, host: 'pr-3.x' } });
  });

  it('the app as the environment applies it: its namespace and cluster, prune, no adoption, never healed', () => {
    const app = parseRepoConfig(config(), 'main').apps[0];
    if (!app?.previewEnvironment) throw new Error('no spec');
    const out = previewApp({ ...app, adopt: ['ConfigMap/x/y'], selfHeal: true }, { ...app.previewEnvironment, cluster: 'preview' }, 12, 'pr-12-web');
    expect(out).toMatchObject({ cluster: 'preview', namespace: 'pr-12-web', prune: true, adopt: [], selfHeal: false, createNamespace: false });
    expect(out.helm?.values).toEqual({ ingress: { host: 'pr-12.example.com' } });
    expect(out.previewEnvironment).toBeUndefined();
  });
});

describe('which PRs get an environment', () => {
  const base = parseRepoConfig(config(), 'main').apps;
  const head = parseRepoConfig(`apps:\n  - name: web\n    path: deploy\n    cluster: prod\n`, 'main').apps;

  it('the label starts one, on the settings of the base branch (the head cannot set them)', () => {
    const w = wantedEnvironments(job({ labels: [PREVIEW_ENV_LABEL] }), head, base, []);
    expect(w.map((x) => [x.app.name, x.startedBy, x.spec.url])).toEqual([['web', 'label', 'https://pr-{number}.example.com']]);
    expect(wantedEnvironments(job({ labels: [] }), head, base, [])).toEqual([]);
    expect(wantedEnvironments(job({ labels: [PREVIEW_ENV_LABEL] }), base, head, [])).toEqual([]);
  });

  it("a fork's PR never gets one from the label or always:, only from a writer's env up", () => {
    const always = parseRepoConfig(config('      when: always\n'), 'main').apps;
    expect(wantedEnvironments(job({ fromFork: true, labels: [PREVIEW_ENV_LABEL] }), head, always, [])).toEqual([]);
    expect(wantedEnvironments(job({ fromFork: true, previewEnv: 'up' }), head, base, []).map((x) => x.startedBy)).toEqual(['command']);
    expect(wantedEnvironments(job({ fromFork: false }), head, always, []).map((x) => x.startedBy)).toEqual(['always']);
  });

  it("an environment a command started follows the same repository's pushes, not a fork's", () => {
    const running = [{ ...record(12), startedBy: 'command' as const }];
    expect(wantedEnvironments(job(), head, base, running).map((x) => x.startedBy)).toEqual(['command']);
    expect(wantedEnvironments(job({ fromFork: true }), head, base, running)).toEqual([]);
  });
});

describe('the caps', () => {
  it('per repository, naming the PRs in use', () => {
    expect(capRefusal({ maxPerRepository: 3, maxTotal: 10 }, [record(19), record(12), record(15)], 7, 'acme/shop', 'preview')).toMatch(/^3 of 3 preview environments in use: #12, #15, #19 /);
    expect(capRefusal({ maxPerRepository: 3, maxTotal: 10 }, [record(12), record(15)], 7, 'acme/shop', 'preview')).toBeNull();
  });

  it('in total on the cluster, naming repository and PR', () => {
    expect(capRefusal({ maxPerRepository: 3, maxTotal: 2 }, [record(4, 8, 'acme/api'), record(12)], 7, 'acme/shop', 'preview')).toMatch(/^2 of 2 preview environments in use on cluster "preview": acme\/api#4, acme\/shop#12/);
  });
});
