import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { CHECK_NAMES } from '../../../src/check-names.js';
import { runDeploy, type DeployDeps } from '../../../src/flows/deploy.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const CONFIG = 'apps:\n  - name: web\n    path: web\n    namespace: shop\n    wait: 30s\n  - name: api\n    path: api\n    namespace: shop\n    wait: 0\n  - name: docs\n    path: docs\n    branch: gh-pages\n';

function setup(files: Record<string, string>, opts: { reason?: DeployJob['reason'] } = {}) {
  const host = new FakeRepoHost();
  const cluster = new FakeCluster();
  const sha = host.push(files, 'main');
  const job: DeployJob = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha, branch: 'main', defaultBranch: 'main', ...(opts.reason ? { reason: opts.reason } : {}) };
  const recorded: string[] = [];
  let checkRun: { id: number; url?: string } | undefined;
  const deps: DeployDeps = {
    hosts: fakeHosts(host),
    engine: cluster,
    log: pino({ level: 'silent' }),
    recordDeployed: async (_job, app) => void recorded.push(app),
    checkRun: { get: () => checkRun, set: async (c) => void (checkRun = c) },
  };
  return { host, cluster, job, deps, recorded };
}

describe('deploy flow (through the fake host)', () => {
  it('deploys every app of the branch: Deployments in_progress → success, a successful check, a comment on the merged PR', async () => {
    const { host, cluster, job, deps, recorded } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b'), 'docs/cm.yaml': cm('docs', 'c') });
    host.merged.set(job.sha, 41);
    await runDeploy(job, deps);
    expect(host.deployments.map((d) => [d.environment, d.sha, d.statuses.map((s) => s.state)])).toEqual([
      ['web', job.sha, ['in_progress', 'success']],
      ['api', job.sha, ['in_progress', 'success']],
    ]);
    expect(host.deployments[0]?.statuses[1]?.description).toBe('deployed: 1 created, 0 configured, 0 unchanged, 0 pruned');
    // Every Deployment status links the deploy check run.
    const check = host.check(CHECK_NAMES.deploy);
    expect(host.deployments.flatMap((d) => d.statuses.map((s) => s.logUrl))).toEqual(Array(4).fill(host.checkRunUrl(check?.id ?? -1)));
    expect(check).toMatchObject({ headSha: job.sha, conclusion: 'success' });
    expect(check?.output?.title).toBe('Deployed 2 apps');
    expect(host.comments.map((c) => c.issue)).toEqual([41]);
    expect(host.comments[0]?.body).toContain('✅ succeeded');
    expect(recorded).toEqual(['web', 'api']);
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'web')?.data).toEqual({ value: 'a' });
    expect(cluster.get('v1', 'ConfigMap', 'default', 'docs')).toBeUndefined();
    expect(host.openCheckouts).toBe(0);
  });

  it('prunes what Git dropped', async () => {
    const { host, cluster, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'web/old.yaml': cm('old', 'x') });
    await runDeploy(job, deps);
    const next = { ...job, sha: host.push({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') }, 'main') };
    await runDeploy(next, { ...deps, checkRun: { get: () => undefined, set: async () => undefined } });
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'old')).toBeUndefined();
    expect(host.deployments.at(-2)?.statuses.at(-1)?.description).toBe('deployed: 0 created, 0 configured, 1 unchanged, 1 pruned');
  });

  it('fails the app whose object the server refuses: its Deployment fails, the check fails, nothing is recorded', async () => {
    const { host, cluster, job, deps, recorded } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') });
    cluster.refuse.set('v1 ConfigMap shop/web', 'admission webhook "policy" denied the request');
    await runDeploy(job, deps);
    expect(host.deployments.map((d) => [d.environment, d.statuses.at(-1)?.state])).toEqual([
      ['web', 'failure'],
      ['api', 'success'],
    ]);
    const check = host.check(CHECK_NAMES.deploy);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.title).toBe('Deploy failed for 1 of 2 apps');
    expect(check?.output?.summary).toContain('admission webhook');
    expect(recorded).toEqual(['api']);
  });

  it('fails an app whose objects do not become healthy within its wait', async () => {
    const { host, cluster, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') });
    cluster.unhealthy.set('v1 ConfigMap shop/web', 'not healthy after 30 s: 0/1 replicas ready');
    await runDeploy(job, deps);
    expect(host.deployments[0]?.statuses.at(-1)?.state).toBe('failure');
    expect(host.check(CHECK_NAMES.deploy)?.output?.summary).toContain('0/1 replicas ready');
  });

  it('does nothing when no app deploys from the branch: no check run, no Deployment', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': CONFIG });
    expect(await runDeploy({ ...job, branch: 'release' }, deps)).toBeNull();
    expect(host.checks).toEqual([]);
    expect(host.deployments).toEqual([]);
  });

  it('reports an invalid config as a failed check and deploys nothing', async () => {
    const { host, job, deps } = setup({ '.github/mergeops.yml': 'apps: []\n' });
    await runDeploy(job, deps);
    const check = host.check(CHECK_NAMES.deploy);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.summary).toContain('invalid config: apps: lists no apps');
    expect(host.deployments).toEqual([]);
  });

  it('a self-heal re-applies forced and comments on no pull request', async () => {
    const { host, cluster, job, deps } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') }, { reason: 'self-heal' });
    host.merged.set(job.sha, 41);
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => [a.app, a.force])).toEqual([
      ['web', true],
      ['api', true],
    ]);
    expect(host.comments).toEqual([]);
  });

  it('on an error of ours the Deployment says it is retrying (never stuck in_progress) and the job fails', async () => {
    const { host, cluster, job, deps, recorded } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') });
    cluster.down = new Error('connect ECONNREFUSED 127.0.0.1:6443');
    await expect(runDeploy(job, deps)).rejects.toThrow('ECONNREFUSED');
    expect(host.deployments[0]?.statuses.map((s) => [s.state, s.description])).toEqual([
      ['in_progress', 'applying'],
      ['error', 'mergeops hit an internal error; retrying'],
    ]);
    expect(recorded).toEqual([]);
    expect(host.openCheckouts).toBe(0);
  });
});

describe('deploy flow: a push deploys the apps it affects', () => {
  const files = { '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') };

  /** Two pushes: the first deployed both apps; the second changes `change`. */
  function twoPushes(change: Record<string, string>, lastDeployed: Record<string, string | null> | 'first') {
    const s = setup(files);
    const before = s.job.sha;
    const sha = s.host.push({ ...files, ...change }, 'main', [before]);
    const at = (app: string): string | null => (lastDeployed === 'first' ? before : (lastDeployed[app] ?? null));
    s.deps.lastDeployed = async (_job, app) => at(app);
    const job: DeployJob = { ...s.job, sha, reason: 'push', changes: { before, paths: Object.keys(change) } };
    return { ...s, job, before };
  }

  it('applies only the app whose file changed; the other is recorded deployed at the new commit and listed unchanged', async () => {
    const { host, job, deps, recorded } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    const report = await runDeploy(job, deps);
    expect(host.deployments.map((d) => d.environment)).toEqual(['api']);
    expect(report?.unchanged).toEqual(['web']);
    expect(recorded.sort()).toEqual(['api', 'web']);
    expect(host.check(CHECK_NAMES.deploy)?.output?.title).toBe('Deployed 1 app · 1 unchanged');
    expect(host.compares).toEqual([]);
  });

  it('applies an untouched app whose last deploy was not the push’s parent (it failed, or never ran)', async () => {
    const { host, job, deps } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, { api: null, web: 'f'.repeat(40) });
    await runDeploy(job, deps);
    expect(host.deployments.map((d) => d.environment)).toEqual(['web', 'api']);
  });

  it('asks the compare API when the job carries no paths, and deploys every app when it fails', async () => {
    const { host, job, deps, before } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    await runDeploy({ ...job, changes: { before } }, deps);
    expect(host.compares).toEqual([`${before}...${job.sha}`]);
    expect(host.deployments.map((d) => d.environment)).toEqual(['api']);
    host.compareError = Object.assign(new Error('Server Error'), { status: 500 });
    await runDeploy({ ...job, changes: { before } }, { ...deps, checkRun: { get: () => undefined, set: async () => undefined } });
    expect(host.deployments.slice(1).map((d) => d.environment)).toEqual(['web', 'api']);
  });

  it('deploys every app on an untrusted list (a force-push), for a command and for self-heal', async () => {
    for (const j of [
      (job: DeployJob) => ({ ...job, changes: { untrusted: 'a force-push' } }),
      (job: DeployJob) => ({ ...job, reason: 'command' as const }),
      (job: DeployJob) => ({ ...job, reason: 'self-heal' as const }),
    ]) {
      const { host, job, deps } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
      await runDeploy(j(job), deps);
      expect(host.deployments.map((d) => d.environment)).toEqual(['web', 'api']);
    }
  });
});
