import { ClusterUnreachableError } from '../../../src/cluster/client.js';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { parseRepoConfig, type App } from '../../../src/config/repo-config.js';
import { CHECK_NAMES, environmentPreviewCheck } from '../../../src/check-names.js';
import { runPreview, type PreviewDeps } from '../../../src/flows/preview.js';
import { appKey } from '../../../src/engine/engine.js';
import type { CheckOutput } from '../../../src/report/check.js';
import type { PreviewJob } from '../../../src/flows/jobs.js';
import { UnsafePathError } from '../../../src/source/paths.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const CONFIG = 'apps:\n  - name: web\n    path: deploy/web\n    namespace: shop\n';
const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

function setup(headFiles: Record<string, string>, baseFiles: Record<string, string> = { '.github/mergeops.yml': CONFIG }) {
  const host = new FakeRepoHost();
  const cluster = new FakeCluster();
  const baseSha = host.push(baseFiles, 'main');
  const headSha = host.push(headFiles, 'feature', [baseSha]);
  const job: PreviewJob = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, pr: 12, headSha, baseRef: 'main', baseSha, defaultBranch: 'main', fromFork: false };
  let checkRunId: number | undefined;
  let commentIds: number[] | null = null;
  let latest = true;
  const deps: PreviewDeps = {
    hosts: fakeHosts(host),
    engine: cluster,
    log: pino({ level: 'silent' }),
    isLatestHead: async () => latest,
    commentIds: () => ({ get: async () => commentIds, set: async (ids) => void (commentIds = ids) }),
    checkRunId: { get: () => checkRunId, set: async (id) => void (checkRunId = id) },
  };
  return { host, cluster, job, deps, supersede: () => void (latest = false) };
}

describe('preview flow (through the fake host)', () => {
  it('comments what merging would create and completes a successful check on the head commit', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    await runPreview(job, deps);
    const check = host.check(CHECK_NAMES.preview);
    expect(check).toMatchObject({ headSha: job.headSha, status: 'completed', conclusion: 'success' });
    expect(check?.output?.title).toBe('1 created in 1 app');
    expect(host.comments).toHaveLength(1);
    expect(host.comments[0]?.issue).toBe(12);
    expect(host.comments[0]?.body).toContain('settings');
    expect(host.comments[0]?.body).toContain(job.headSha.slice(0, 7));
    expect(host.openCheckouts).toBe(0);
  });

  it('edits its comment in place on the next push instead of posting another', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    await runPreview(job, deps);
    const next = { ...job, headSha: host.push({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('renamed', 'a') }, 'feature') };
    await runPreview(next, { ...deps, checkRunId: { get: () => undefined, set: async () => undefined } });
    expect(host.comments).toHaveLength(1);
    expect(host.comments[0]?.body).toContain('renamed');
    expect(host.comments[0]?.body).not.toContain('settings');
  });

  it('shows an unchanged app as no changes', async () => {
    const { host, cluster, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    await cluster.apply({ app: appOf(CONFIG, 'web'), dir: await checkoutDir(host, job.headSha), key: { repoId: 777, repo: 'acme/deploys', app: 'web' } }, { force: false });
    await runPreview(job, deps);
    expect(host.check(CHECK_NAMES.preview)?.output?.title).toBe('no changes in 1 app');
  });

  it('fails the check with the key path of an invalid config, annotated on the config file', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': 'apps:\n  - name: web\n    path: deploy/web\n    prune: "yes"\n' });
    await runPreview(job, deps);
    const check = host.check(CHECK_NAMES.preview);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.summary).toContain('invalid config: apps[0].prune: expected true or false, got string "yes"');
    expect((check?.output as { annotations: { path: string }[] }).annotations.map((a) => a.path)).toEqual(['.github/mergeops.yml']);
  });

  it('fails the check naming the refused archive entry, and downloads nothing else', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': CONFIG });
    host.revisionErrors.set(job.headSha, new UnsafePathError('entry path contains ".."', 'acme-deploys-abc/../x'));
    await runPreview(job, deps);
    const check = host.check(CHECK_NAMES.preview);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.summary).toContain('the repository archive was refused: entry path contains ".." (entry "acme-deploys-abc/../x")');
    expect(host.openCheckouts).toBe(0);
  });

  it('turns an object the server refuses into a problem annotated at its file and line', async () => {
    const { host, cluster, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    cluster.refuse.set('v1 ConfigMap shop/settings', 'ConfigMap "settings" is invalid: data.value: Too long');
    await runPreview(job, deps);
    const check = host.check(CHECK_NAMES.preview);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.title).toBe('1 problem found');
    expect((check?.output as { annotations: unknown[] }).annotations).toEqual([
      expect.objectContaining({ path: 'deploy/web/cm.yaml', start_line: 1, title: 'v1 ConfigMap shop/settings', message: 'ConfigMap "settings" is invalid: data.value: Too long' }),
    ]);
  });

  it('reports hand edits on the base branch as drift that merging reverts', async () => {
    const files = { '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'git') };
    const { host, cluster, job, deps } = setup({ ...files, 'deploy/web/extra.yaml': cm('extra', 'x') }, files);
    await cluster.apply({ app: appOf(CONFIG, 'web'), dir: await checkoutDir(host, job.baseSha), key: { repoId: 777, repo: 'acme/deploys', app: 'web' } }, { force: false });
    cluster.handEdit({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'settings' }, ['data', 'value'], 'hand-edited');
    await runPreview(job, deps);
    expect(host.check(CHECK_NAMES.preview)?.output?.summary).toContain('drift in `v1 ConfigMap shop/settings`');
    expect(host.comments[0]?.body).toContain('hand-edited');
  });

  it('leaves the comment to a newer push but still completes its own check', async () => {
    const { host, job, deps, supersede } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    supersede();
    await runPreview(job, deps);
    expect(host.comments).toEqual([]);
    expect(host.check(CHECK_NAMES.preview)?.status).toBe('completed');
  });

  it('a retry finishes the check run the first attempt opened', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    const first = await host.startCheck(CHECK_NAMES.preview, job.headSha);
    await runPreview(job, { ...deps, checkRunId: { get: () => first.id, set: async () => undefined } });
    expect(host.checks).toHaveLength(1);
    expect(host.checks[0]?.conclusion).toBe('success');
  });

  it('rethrows what is ours (the cluster went away), so the job is retried', async () => {
    const { host, cluster, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'deploy/web/cm.yaml': cm('settings', 'a') });
    cluster.down = new ClusterUnreachableError('default', 'ECONNRESET (after 4 attempts)');
    await expect(runPreview(job, deps)).rejects.toThrow(ClusterUnreachableError);
    expect(host.check(CHECK_NAMES.preview)?.status).toBe('in_progress');
    expect(host.comments).toEqual([]);
    expect(host.openCheckouts).toBe(0);
  });
});

describe('preview flow: affected apps only', () => {
  const MONO = 'apps:\n  - name: web\n    path: deploy/web\n  - name: api\n    path: deploy/api\n  - name: jobs\n    path: deploy/jobs\n';
  const base = { '.github/mergeops.yml': MONO, 'deploy/web/cm.yaml': cm('web', 'a'), 'deploy/api/cm.yaml': cm('api', 'a'), 'deploy/jobs/cm.yaml': cm('jobs', 'a') };

  /** The engine, recording which apps were planned (each plan is API server traffic). */
  function recording(deps: PreviewDeps): string[] {
    const planned: string[] = [];
    const engine = deps.engine;
    deps.engine = { ...engine, plan: (t, o) => (planned.push(t.app.name), engine.plan(t, o)), drift: engine.drift.bind(engine), apply: engine.apply.bind(engine) };
    return planned;
  }

  it('plans only the app whose files changed; the others are one unchanged line', async () => {
    const { host, job, deps } = setup({ ...base, 'deploy/api/cm.yaml': cm('api', 'b') }, base);
    const planned = recording(deps);
    const report = await runPreview(job, deps);
    expect(planned).toEqual(['api']);
    expect(report.unchanged?.map((u) => [u.app, u.why])).toEqual([['web', 'files'], ['jobs', 'files']]);
    expect(host.comments[0]?.body).toContain('**2 apps unchanged**');
    expect(host.comments[0]?.body).toContain('1 of 3 apps change');
  });

  it('does not plan an app whose files changed but whose render did not (a comment in its YAML)', async () => {
    const { job, deps } = setup({ ...base, 'deploy/api/cm.yaml': `# reformatted\n${cm('api', 'a')}` }, base);
    const planned = recording(deps);
    const report = await runPreview(job, deps);
    expect(planned).toEqual([]);
    expect(report.unchanged?.find((u) => u.app === 'api')?.why).toBe('render');
  });

  it('a config entry that changed affects that app alone', async () => {
    const { job, deps } = setup({ ...base, '.github/mergeops.yml': MONO.replace('path: deploy/jobs\n', 'path: deploy/jobs\n    prune: false\n') }, base);
    const planned = recording(deps);
    await runPreview(job, deps);
    expect(planned).toEqual(['jobs']);
  });

  it('plans every app, and says why, when the base revision cannot be read', async () => {
    const { host, job, deps } = setup({ ...base, 'deploy/api/cm.yaml': cm('api', 'b') }, base);
    host.revisionErrors.set(job.baseSha, Object.assign(new Error('Server Error'), { status: 502 }));
    const planned = recording(deps);
    const report = await runPreview(job, deps);
    expect(planned.sort()).toEqual(['api', 'jobs', 'web']);
    expect(report.allRendered).toBe('the base revision could not be read');
    expect(host.comments[0]?.body).toContain('every app rendered (the changed files were not trusted): the base revision could not be read');
  });

  it('asks GitHub nothing to know what changed: the two checkouts are compared on disk', async () => {
    const { host, job, deps } = setup({ ...base, 'deploy/api/cm.yaml': cm('api', 'b') }, base);
    await runPreview(job, deps);
    expect(host.compares).toEqual([]);
  });

  it('previews the apps a command names even when their files did not change', async () => {
    const { job, deps } = setup(base, base);
    const planned = recording(deps);
    await runPreview({ ...job, apps: ['web'] }, deps);
    expect(planned).toEqual(['web']);
  });
});

describe('per-environment preview checks (previewCheck: true)', () => {
  const envs = (checked: string): string =>
    `environments:\n  - name: staging\n    cluster: staging\n  - name: prod-eu\n    cluster: prod-eu\n    after: [staging]\n${checked}  - name: prod-us\n    cluster: prod-us\n    after: [staging]\n${checked}apps:\n  - name: web\n    path: deploy/web\n    namespace: web-{env}\n`;
  const files = (checked: string, value: string) => ({ '.github/mergeops.yml': envs(checked), 'deploy/web/cm.yaml': cm('web', value) });

  it('writes one check run per environment that asks for one, beside the overall check, each judging only its own environment', async () => {
    const { host, cluster, job, deps } = setup(files('    previewCheck: true\n', 'b'), files('    previewCheck: true\n', 'a'));
    // prod-us's API server refuses the change; staging and prod-eu take it.
    cluster.refuse.set('v1 ConfigMap web-prod-us/web', 'admission webhook "quota" denied the request');
    await runPreview(job, deps);

    expect(host.check(CHECK_NAMES.preview)?.conclusion).toBe('failure');
    expect(host.checks.map((c) => c.name)).toEqual([CHECK_NAMES.preview, 'mergeops / preview (prod-eu)', 'mergeops / preview (prod-us)']);
    const eu = host.check(environmentPreviewCheck('prod-eu'));
    expect(eu).toMatchObject({ headSha: job.headSha, status: 'completed', conclusion: 'success' });
    expect(eu?.output?.title).toBe('prod-eu: 1 created in 1 app');
    expect(eu?.output?.summary).toContain('Environment `prod-eu` → cluster `prod-eu`: 1 app planned.');
    expect(eu?.output?.summary).not.toContain('prod-us');
    const us = host.check(environmentPreviewCheck('prod-us'));
    expect(us?.conclusion).toBe('failure');
    expect(us?.output?.summary).toContain('admission webhook "quota" denied the request');
  });

  it('writes none without previewCheck: one check per preview, as without environments', async () => {
    const { host, job, deps } = setup(files('', 'b'), files('', 'a'));
    await runPreview(job, deps);
    expect(host.checks.map((c) => c.name)).toEqual([CHECK_NAMES.preview]);
  });

  it('a retry updates the environment check runs its first attempt wrote instead of adding more', async () => {
    const { host, job, deps } = setup(files('    previewCheck: true\n', 'b'), files('    previewCheck: true\n', 'a'));
    const ids = new Map<string, number>();
    const withIds: PreviewDeps = { ...deps, environmentCheckRunIds: { get: (e) => ids.get(e), set: async (e, id) => void ids.set(e, id) } };
    await runPreview(job, withIds);
    await runPreview(job, withIds);
    expect(host.checks.map((c) => c.name)).toEqual([CHECK_NAMES.preview, 'mergeops / preview (prod-eu)', 'mergeops / preview (prod-us)']);
    expect(host.checks.every((c) => c.status === 'completed')).toBe(true);
  });

  it("carries the risk gate: a delete holds the environment's check for Accept risk, as it holds the overall one", async () => {
    const gated = (objects: string) => ({ '.github/mergeops.yml': envs('    previewCheck: true\n').replace('namespace: web-{env}\n', 'namespace: web-{env}\n    review:\n      onRisk: action_required\n'), 'deploy/web/cm.yaml': objects });
    const { host, cluster, job, deps } = setup(gated(cm('web', 'a')), gated(`${cm('web', 'a')}---\n${cm('old', 'a')}`));
    // Deployed at the base, so the head's removal is a delete the merge would prune.
    const baseDir = await checkoutDir(host, job.baseSha);
    for (const app of parseRepoConfig(gated(`${cm('web', 'a')}---\n${cm('old', 'a')}`)['.github/mergeops.yml'], 'main').apps) {
      await cluster.apply({ app, dir: baseDir, key: appKey(777, 'acme/deploys', app) }, { force: false });
    }
    await runPreview(job, deps);
    const eu = host.check(environmentPreviewCheck('prod-eu'));
    expect(host.check(CHECK_NAMES.preview)?.conclusion).toBe('action_required');
    expect(eu?.conclusion).toBe('action_required');
    expect((eu?.output as CheckOutput | undefined)?.actions?.map((a) => a.identifier)).toEqual(['mergeops-accept']);
  });

  it('an environment no changed app deploys to still gets its check, saying so', async () => {
    const only = (checked: string, value: string) => ({ '.github/mergeops.yml': envs(checked).replace('namespace: web-{env}\n', 'namespace: web-{env}\n    environments: [staging]\n'), 'deploy/web/cm.yaml': cm('web', value) });
    const { host, job, deps } = setup(only('    previewCheck: true\n', 'b'), only('    previewCheck: true\n', 'a'));
    await runPreview(job, deps);
    const eu = host.check(environmentPreviewCheck('prod-eu'));
    expect(eu?.conclusion).toBe('success');
    expect(eu?.output?.summary).toContain('Environment `prod-eu` → cluster `prod-eu`: no app of this change is planned here.');
  });
});

/** A checkout of a commit for the test's own engine calls (kept: the test process cleans up tmp). */
async function checkoutDir(host: FakeRepoHost, sha: string): Promise<string> {
  const c = await host.revision(sha);
  host.openCheckouts--;
  return c.dir;
}

function appOf(config: string, name: string): App {
  const app = parseRepoConfig(config, 'main').apps.find((a) => a.name === name);
  if (!app) throw new Error(`no app ${name}`);
  return app;
}
